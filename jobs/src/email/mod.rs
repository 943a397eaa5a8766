//! Email: the daily summary and alerts, composed from templates into the outbox and sent by
//! their own job through SMTP or, in development, into `.eml` files.
//!
//! ```text
//! daily_summary_all (cron 07:00 UTC) ─▶ daily_summary {date} per tenant
//! daily_summary ─▶ reads the day (one tenant scope) ─▶ per recipient: outbox row + send_email
//!                                                     (same transaction, only for a new row)
//!               └▶ alerts: low balance, failing sync, large expense ─▶ outbox rows + send_email
//! send_email {outbox_id} ─▶ still wanted? ─▶ SMTP / file ─▶ sent | pending + error | failed
//! ```
//!
//! An email's dedupe key (`daily_summary:<date>:<user>`, `alert_…:<subject>:<user>`) is unique
//! per tenant, so however often a job reruns, each email is written and sent once. This module
//! never renders money itself: `locale` does, from integer minor units.

mod alerts;
mod all;
pub mod locale;
mod message;
mod outbox;
mod send;
mod summary;
mod templates;
pub mod token;
pub mod transport;

use findash_schema::email::Topic;
use findash_schema::{TenantId, UserId};
use lettre::message::Mailbox;
use url::Url;

pub use all::DailySummaryAll;
pub use send::SendEmail;
pub use summary::DailySummary;
pub use token::{Unsubscribe, UnsubscribeKey};
pub use transport::{Delivered, SendError, Transport, TransportError};

use crate::EmailConfig;

/// Why email cannot be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum EmailSetupError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("EMAIL_FROM is not a mailbox: {0}")]
    From(String),
    #[error(transparent)]
    Key(#[from] token::BadKey),
}

/// What the email jobs need, built once per process from [`EmailConfig`].
#[derive(Debug, Clone)]
pub struct Mailer {
    pub transport: Transport,
    pub from: Mailbox,
    public_base_url: Url,
    key: UnsubscribeKey,
}

impl Mailer {
    pub fn new(config: &EmailConfig, key: UnsubscribeKey) -> Result<Mailer, EmailSetupError> {
        let from = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| EmailSetupError::From(e.to_string()))?;
        Ok(Mailer {
            transport: Transport::from_config(config)?,
            from,
            public_base_url: config.public_base_url.clone(),
            key,
        })
    }

    /// The page that turns `topic` off for `user` (a signed token; GET shows a confirmation
    /// form, POST unsubscribes).
    pub fn unsubscribe_url(&self, tenant: TenantId, user: UserId, topic: Topic) -> String {
        let token = self.key.sign(Unsubscribe {
            user,
            tenant,
            topic,
        });
        // Under the base URL's path, like the webhook URLs: a deployment behind a path prefix
        // keeps it.
        format!(
            "{}/email/unsubscribe?token={token}",
            self.public_base_url.as_str().trim_end_matches('/')
        )
    }
}

/// Which preference decides whether an email of `kind` goes out.
pub fn topic_of(kind: &str) -> Topic {
    if kind == summary::KIND {
        Topic::DailySummary
    } else {
        Topic::Alerts
    }
}
