//! The FinDash HTTP layer.
//!
//! Owns the actix-web app: the JSON API for the dashboard and for jobs, the webhook receivers
//! (Stripe, Upstash QStash, Mercado Pago), the admin job-monitor UI, and the middleware around
//! them (auth, request id, rate limits, security headers). Handlers stay thin: they parse,
//! authorize, call `findash-schema`/`findash-engine`, and shape the response.
//!
//! So far: the app and server (`http`) with health, readiness and metrics, its configuration
//! section, and the API tokens (JWT) it will verify.

pub mod auth;
mod config;
pub mod http;
pub mod limits;

pub use config::{WebConfig, WebhookSecrets};
