//! The FinDash HTTP layer.
//!
//! Owns the actix-web app: the JSON API for the dashboard and for jobs, the webhook receivers
//! (Stripe, Upstash QStash, Mercado Pago), the admin job-monitor UI, and the middleware around
//! them (auth, request id, rate limits, security headers). Handlers stay thin: they parse,
//! authorize, call `findash-schema`/`findash-engine`, and shape the response.
//!
//! Built: the admin console (`admin`), the app and server (`http`) with the JSON API, probes and metrics, its configuration
//! section, the API tokens (JWT), and the webhook receivers (`webhooks`) with their senders'
//! signature checks.

pub mod admin;
pub mod auth;
mod config;
pub mod http;
pub mod limits;
pub mod webhooks;

pub use config::{WebConfig, WebhookConfig};
