//! A real headless Chromium driven over WebDriver (chromedriver, from Debian's `chromium-driver`),
//! against the real app served on a local port. Missing Chromium or chromedriver fails the test
//! with what to install; `.ci/run` installs both.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Where screenshots go for review: `var/screenshots/admin/` in the workspace, emptied of an
/// earlier run's pictures the first time a run asks.
pub fn screenshot_dir() -> PathBuf {
    static EMPTIED: std::sync::Once = std::sync::Once::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../var/screenshots/admin");
    EMPTIED.call_once(|| {
        let _ = std::fs::remove_dir_all(&dir);
    });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn find_binary(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} not found (looked at {candidates:?}; set {env}). Install Debian's `chromium` and \
                 `chromium-driver` (`.ci/run` does).",
                candidates[0]
            )
        })
}

/// chromedriver on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start() -> Driver {
        let binary = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, url }
    }

    /// A headless browser session at a laptop's width, in the system's light theme.
    pub async fn browser(&self) -> Client {
        self.session(false).await
    }

    /// The same, with the system in dark mode (`prefers-color-scheme: dark`).
    pub async fn dark_browser(&self) -> Client {
        self.session(true).await
    }

    async fn session(&self, dark: bool) -> Client {
        let chromium = find_binary(
            "CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1366,900",
            "--lang=en-US",
        ];
        if dark {
            args.push("--force-dark-mode");
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        // The console's messages, read back by `console_messages` (CSP violations land there).
        caps.insert(
            "goog:loggingPrefs".to_owned(),
            serde_json::json!({ "browser": "ALL" }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver: {e}"))
    }
}

impl Driver {
    /// The browser console's messages since the last call (chromedriver's log endpoint).
    pub async fn console_messages(&self, client: &Client) -> Vec<String> {
        let session = client.session_id().await.unwrap().expect("a session");
        let reply: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.url))
            .json(&serde_json::json!({ "type": "browser" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["value"]
            .as_array()
            .unwrap_or_else(|| panic!("no log entries in {reply}"))
            .iter()
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Fails if the page broke its Content Security Policy or logged an error since the last
    /// check (a blocked inline style or script, a failed asset).
    pub async fn assert_clean_console(&self, client: &Client, page: &str) {
        let bad: Vec<String> = self
            .console_messages(client)
            .await
            .into_iter()
            .filter(|m| {
                m.contains("Content Security Policy")
                    || m.contains("Refused to")
                    || m.contains("Failed to load resource")
                    || m.contains("Uncaught")
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{page}: the browser console reports {bad:#?}"
        );
    }
}

/// Waits (up to `secs`) until `check` is true, reloading nothing: the page must update itself
/// or the caller reloads inside `check`.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Saves a full-window screenshot as `<name>.png` and returns its path.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// The visible text of the page's `<main>`.
pub async fn main_text(client: &Client) -> String {
    client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
