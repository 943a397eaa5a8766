//! Owns the process-wide TLS setup: which rustls crypto provider outbound HTTPS clients use.
//!
//! reqwest and sentry are built with `rustls-no-provider`, so a provider must be installed before
//! the first client is built. This module never builds clients itself.

/// Installs rustls' `ring` provider as the process default.
///
/// Idempotent: a provider already installed (by an earlier call or by another component) is kept.
pub fn install_crypto_provider() {
    // `install_default` fails only when a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
