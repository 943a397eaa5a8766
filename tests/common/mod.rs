//! Shared set-up of the binary's tests that feed it secrets on stdin.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs `findash args` with `FINDASH_ENV=test` and only `env` besides, in the build's scratch
/// directory (so no `.env` is read), `stdin` written to its input.
pub fn run(env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_findash"))
        .args(args)
        .env_clear()
        .env("FINDASH_ENV", "test")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run findash");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The bytes of PostgreSQL's `encode(…, 'hex')`.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
