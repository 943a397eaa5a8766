//! Where emails go: an SMTP server (`SMTP_URL`) or, in development and tests without one, a
//! directory of `.eml` files (`EMAIL_FILE_DIR`).
//!
//! `smtp://user:pass@host[:587]` requires STARTTLS (the session fails rather than continue in
//! the clear), `smtps://user:pass@host[:465]` speaks TLS from the first byte, and
//! `smtp://host[:25]?tls=none` (refused in staging and production) talks to a plain local
//! relay. `SMTP_CA_FILE` adds trusted roots to the public ones (a private relay's own CA).
//! Certificates are checked with rustls on the `ring` provider. Neither the URL nor its
//! credentials ever appear in an error or a log line: errors name the host and port only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use url::Url;

use crate::EmailConfig;

/// How long opening the TCP connection may take. lettre's async transport applies its timeout
/// to the connect only: the TLS handshake and every reply after it would wait forever on a
/// server that stops answering, hence [`SEND_DEADLINE`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long handing over one message may take in all: connect, TLS handshake, login, every
/// reply. Well under `send_email`'s job timeout, so an attempt always ends with its outcome
/// written to the outbox row rather than cut off while the row says `sending`.
pub const SEND_DEADLINE: Duration = Duration::from_secs(60);

/// Why the email configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("SMTP_URL {0}")]
    Url(String),
    #[error("SMTP_CA_FILE {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good (5xx): trying again would be refused again.
    #[error("{0}")]
    Permanent(String),
    /// Worth another attempt (4xx, network, TLS handshake, timeout, full disk).
    #[error("{0}")]
    Transient(String),
}

/// What accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Smtp,
    /// Written to this file.
    File(PathBuf),
}

/// The configured way out.
#[derive(Clone)]
pub enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for errors and logs.
        server: String,
    },
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Smtp { server, .. } => write!(f, "Transport::Smtp({server})"),
            Transport::File { dir, .. } => write!(f, "Transport::File({})", dir.display()),
        }
    }
}

/// The TLS mode an `SMTP_URL` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Starttls,
    Implicit,
    Plain,
}

/// The parts of an `SMTP_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub mode: TlsMode,
    /// `(user, password)`, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl SmtpTarget {
    /// Reads `url`; `allow_plaintext` permits `tls=none`. Messages never quote the URL.
    pub fn parse(url: &str, allow_plaintext: bool) -> Result<SmtpTarget, TransportError> {
        let bad = |why: &str| TransportError::Url(why.to_owned());
        let url = Url::parse(url).map_err(|_| bad("is not a URL"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut mode = match url.scheme() {
            "smtp" => TlsMode::Starttls,
            "smtps" => TlsMode::Implicit,
            _ => return Err(bad("must start with smtp:// or smtps://")),
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref(), mode) {
                ("tls", "none", TlsMode::Starttls) if allow_plaintext => mode = TlsMode::Plain,
                ("tls", "none", TlsMode::Starttls) => {
                    return Err(bad("says tls=none, which only development and test allow"));
                }
                ("tls", "required", TlsMode::Starttls) => {}
                _ => {
                    return Err(bad(
                        "accepts only `?tls=none` (smtp://, development and test) or `?tls=required`",
                    ));
                }
            }
        }
        if !url.path().trim_matches('/').is_empty() {
            return Err(bad("must not have a path"));
        }
        let port = url.port().unwrap_or(match mode {
            TlsMode::Starttls => 587,
            TlsMode::Implicit => 465,
            TlsMode::Plain => 25,
        });
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| bad("has credentials that are not valid UTF-8"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(password)) if !user.is_empty() => Some((decode(user)?, decode(password)?)),
            _ => return Err(bad("needs both a user and a password, or neither")),
        };
        if credentials.is_some() && mode == TlsMode::Plain {
            return Err(bad("must not send credentials without TLS"));
        }
        Ok(SmtpTarget {
            host,
            port,
            mode,
            credentials,
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Transport {
    /// The transport `config` describes: SMTP when `SMTP_URL` is set, else files.
    pub fn from_config(config: &EmailConfig) -> Result<Transport, TransportError> {
        let Some(url) = &config.smtp_url else {
            return Ok(Transport::File {
                transport: AsyncFileTransport::new(&config.file_dir),
                dir: config.file_dir.clone(),
            });
        };
        let target = SmtpTarget::parse(url.expose_secret(), config.allow_plaintext)?;
        let roots = match &config.ca_file {
            Some(path) => Some(read_ca(path)?),
            None => None,
        };
        let tls_parameters = || -> Result<TlsParameters, TransportError> {
            let mut builder = TlsParameters::builder(target.host.clone());
            if let Some(pem) = &roots {
                let certificate =
                    Certificate::from_pem(pem).map_err(|e| TransportError::CaFile {
                        path: config
                            .ca_file
                            .as_deref()
                            .unwrap_or(Path::new(""))
                            .display()
                            .to_string(),
                        reason: e.to_string(),
                    })?;
                builder = builder.add_root_certificate(certificate);
            }
            builder
                .build_rustls()
                .map_err(|e| TransportError::Url(format!("cannot set up TLS: {e}")))
        };
        let tls = match target.mode {
            TlsMode::Starttls => Tls::Required(tls_parameters()?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
            TlsMode::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.host)
            .port(target.port)
            .tls(tls)
            .timeout(Some(CONNECT_TIMEOUT));
        if let Some((user, password)) = target.credentials.clone() {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Transport::Smtp {
            transport: builder.build(),
            server: format!("{}:{}", target.host, target.port),
        })
    }

    /// Hands `message` over.
    pub async fn send(&self, message: &Message) -> Result<Delivered, SendError> {
        match self {
            Transport::Smtp { transport, server } => {
                let sent = tokio::time::timeout(SEND_DEADLINE, transport.send(message.clone()));
                match sent.await {
                    Ok(Ok(_)) => Ok(Delivered::Smtp),
                    Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(format!(
                        "the SMTP server {server} refused the message: {e}"
                    ))),
                    Ok(Err(e)) => Err(SendError::Transient(format!(
                        "sending through the SMTP server {server} failed: {e}"
                    ))),
                    Err(_) => Err(SendError::Transient(format!(
                        "the SMTP server {server} did not finish the exchange within {} s",
                        SEND_DEADLINE.as_secs()
                    ))),
                }
            }
            Transport::File { transport, dir } => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    SendError::Transient(format!("cannot create {}: {e}", dir.display()))
                })?;
                let id = transport.send(message.clone()).await.map_err(|e| {
                    SendError::Transient(format!("cannot write to {}: {e}", dir.display()))
                })?;
                let path = dir.join(format!("{id}.eml"));
                tracing::info!(path = %path.display(), "email written to a file (no SMTP_URL)");
                Ok(Delivered::File(path))
            }
        }
    }
}

fn read_ca(path: &Path) -> Result<Vec<u8>, TransportError> {
    let pem = std::fs::read(path).map_err(|e| TransportError::CaFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(TransportError::CaFile {
            path: path.display().to_string(),
            reason: "holds no PEM certificate".to_owned(),
        });
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_choose_tls_port_and_credentials() {
        let t = SmtpTarget::parse("smtp://mailer:p%40ss@smtp.example.com", false).unwrap();
        assert_eq!(
            t,
            SmtpTarget {
                host: "smtp.example.com".to_owned(),
                port: 587,
                mode: TlsMode::Starttls,
                credentials: Some(("mailer".to_owned(), "p@ss".to_owned())),
            }
        );
        let t = SmtpTarget::parse("smtps://u:p@smtp.example.com", false).unwrap();
        assert_eq!((t.port, t.mode), (465, TlsMode::Implicit));
        let t = SmtpTarget::parse("smtp://127.0.0.1:2525?tls=none", true).unwrap();
        assert_eq!(
            (t.port, t.mode, t.credentials),
            (2525, TlsMode::Plain, None)
        );
    }

    #[test]
    fn unsafe_or_malformed_urls_are_refused_without_quoting_them() {
        for (url, plaintext) in [
            ("smtp://relay:25?tls=none", false),
            ("smtp://user:hunter2@relay:25?tls=none", true),
            ("smtps://relay?tls=none", true),
            ("smtp://relay?tls=maybe", true),
            ("http://user:hunter2@relay", true),
            ("smtp://user@relay", true),
            ("smtp://user:hunter2@relay/path", true),
        ] {
            let error = SmtpTarget::parse(url, plaintext).unwrap_err().to_string();
            assert!(
                !error.contains("hunter2") && !error.contains("relay"),
                "{error}"
            );
        }
    }
}
