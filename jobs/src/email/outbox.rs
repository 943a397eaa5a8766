//! The transactional outbox: an email row and its send job are written in one transaction, and
//! the job only for a row that is new, so a rerun of whatever composed the email neither
//! writes it again nor sends it twice.

use findash_engine::EngineError;
use findash_engine::ledger::{EnqueueOptions, NewJob, Trigger, insert_jobs};
use findash_schema::email::{self, NewEmail};
use findash_schema::{JobId, OutboxId, TenantConn};

use super::send::SendEmail;

/// Writes `email` and enqueues its [`SendEmail`] job in the scope's transaction; `None` when
/// the tenant already has an email with its dedupe key (nothing written, nothing enqueued).
/// `cause`: the job that composed it.
pub fn queue(
    scope: &mut TenantConn<'_>,
    email: &NewEmail,
    cause: JobId,
) -> Result<Option<OutboxId>, EngineError> {
    let Some(id) = email::insert(scope, email)? else {
        return Ok(None);
    };
    let mut options = EnqueueOptions::new(Trigger::new("job", Some(cause.to_string())));
    options.parent = Some(cause);
    insert_jobs(
        scope,
        vec![NewJob::of(&SendEmail { outbox_id: id })?],
        &options,
    )?;
    Ok(Some(id))
}
