//! `send_email`: sends one outbox email, once.
//!
//! An email already `sent` or `suppressed` is left alone (a redelivered job does nothing). The
//! recipient's preference is checked again, because it may have changed since the email was
//! written: switched off means `suppressed`, never sent. A server's permanent refusal (5xx, or
//! an address that cannot be used) ends the email `failed` and the job `dead`; anything else is
//! retried with the engine's backoff, the error kept on the row.

use std::time::Duration;

use findash_engine::{Job, JobContext, JobError, JobResult, Queue};
use findash_schema::OutboxId;
use findash_schema::email::{self, OutboxEmail, OutboxStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::transport::{Delivered, SEND_DEADLINE, SendError};
use super::{Mailer, message, topic_of};

/// Attempts at recording a delivered email before the job gives up (see `run`).
const MARK_SENT_TRIES: u32 = 3;

/// Sends outbox email `outbox_id` of the job's tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendEmail {
    pub outbox_id: OutboxId,
}

/// What the first scope decided.
enum Next {
    /// No such email: it will not appear on a retry either.
    Missing,
    Done(&'static str),
    Send(Box<OutboxEmail>),
}

// An attempt must outlive the transport's own deadline by enough to write its outcome.
const _: () = assert!(SEND_DEADLINE.as_secs() + 30 <= SendEmail::TIMEOUT.as_secs());

impl Job for SendEmail {
    const KIND: &'static str = "send_email";
    const QUEUE: Queue = Queue::Email;
    const MAX_ATTEMPTS: u32 = 8;
    const TIMEOUT: Duration = Duration::from_secs(120);

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("outbox:{}", self.outbox_id))
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let mailer = ctx.state::<Mailer>()?.clone();
        let id = self.outbox_id;
        let next = ctx
            .tenant_db(move |scope| {
                let Some(row) = email::lock(scope, id)? else {
                    return Ok(Next::Missing);
                };
                match row.status {
                    OutboxStatus::Sent => return Ok(Next::Done("already sent")),
                    OutboxStatus::Suppressed => return Ok(Next::Done("already suppressed")),
                    OutboxStatus::Pending | OutboxStatus::Sending | OutboxStatus::Failed => {}
                }
                let topic = topic_of(&row.kind);
                let wanted = match row.user_id {
                    Some(user) => email::still_wants(scope, user, topic)?,
                    None => false,
                };
                if !wanted {
                    email::mark_suppressed(
                        scope,
                        id,
                        &format!("the recipient no longer receives {topic} email"),
                    )?;
                    return Ok(Next::Done("suppressed"));
                }
                email::start_attempt(scope, id)?;
                Ok(Next::Send(Box::new(row)))
            })
            .await?;
        let row = match next {
            Next::Missing => {
                return Err(JobError::permanent(anyhow::anyhow!(
                    "outbox email {id} does not exist"
                )));
            }
            Next::Done(status) => return Ok(json!({ "status": status })),
            Next::Send(row) => *row,
        };
        let tenant = row.tenant_id;
        let user = row.user_id.unwrap_or_default();
        let unsubscribe = mailer.unsubscribe_url(tenant, user, topic_of(&row.kind));
        let message_id = message::message_id(&row, &mailer.from);
        let outcome = match message::build(&row, &mailer.from, &unsubscribe) {
            Ok(message) => mailer.transport.send(&message).await,
            Err(e) => Err(SendError::Permanent(e.to_string())),
        };
        match outcome {
            Ok(delivered) => {
                // The server has the message: recording it must not turn into a second send. A
                // few tries over a database blip; then the job ends for good, saying so, and the
                // row stays `sending` for an operator to look at rather than be sent again.
                let mut tries = 0;
                loop {
                    let stored = message_id.clone();
                    match ctx
                        .tenant_db(move |scope| Ok(email::mark_sent(scope, id, &stored)?))
                        .await
                    {
                        Ok(()) => break,
                        Err(e) if tries < MARK_SENT_TRIES => {
                            tries += 1;
                            tracing::warn!(outbox = %id, error = %e, "sent but not yet recorded; trying again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => {
                            return Err(JobError::permanent(anyhow::anyhow!(
                                "email {id} was sent (Message-ID {message_id}) but could not be recorded: {e}"
                            )));
                        }
                    }
                }
                let file = match delivered {
                    Delivered::File(path) => Some(path.display().to_string()),
                    Delivered::Smtp => None,
                };
                Ok(json!({ "status": "sent", "message_id": message_id, "file": file }))
            }
            Err(error) => {
                let permanent = matches!(error, SendError::Permanent(_));
                let last = permanent || ctx.is_last_attempt();
                let text = error.to_string();
                ctx.tenant_db(move |scope| Ok(email::mark_failed(scope, id, &text, last)?))
                    .await?;
                Err(if permanent {
                    JobError::permanent(error)
                } else {
                    JobError::retryable(error)
                })
            }
        }
    }
}
