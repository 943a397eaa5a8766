//! Operator actions over every job a filter matches (the admin console's bulk retry and
//! cancel). Each job goes through [`act_in`], the path of a single action, so its workflow hears
//! of it; all of them in the caller's transaction, so the caller's audit entry commits with them.

use findash_schema::SystemConn;

use crate::engine::act_in;
use crate::error::EngineError;
use crate::ledger::{self, Action, ActionResult, JobFilter};
use crate::registry::Registry;

/// What a bulk action did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Jobs the action was applied to.
    pub applied: usize,
    /// Running jobs asked to stop (a cancel).
    pub cancel_requested: usize,
    /// Jobs that had moved on (or gone) by the time their row was locked.
    pub skipped: usize,
    /// Jobs the action still applies to, beyond the cap (a running job asked to stop counts
    /// until it stops).
    pub remaining: i64,
}

/// `filter` narrowed to the jobs `action` applies to, every page of them (`before` dropped);
/// `None` when its states leave none.
pub fn actionable(filter: &JobFilter, action: Action) -> Option<JobFilter> {
    let applicable = action.applies_to();
    let states: Vec<String> = if filter.states.is_empty() {
        applicable.iter().map(|s| (*s).to_owned()).collect()
    } else {
        filter
            .states
            .iter()
            .filter(|s| applicable.contains(&s.as_str()))
            .cloned()
            .collect()
    };
    (!states.is_empty()).then(|| JobFilter {
        states,
        before: None,
        ..filter.clone()
    })
}

/// Applies `action` to the newest `cap` jobs that match `filter` and that it applies to. Rows
/// are locked in id order, as the engine's own batch statements lock them, so a bulk action
/// and a worker's batch never wait on each other in a cycle.
pub fn act_on_filter(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    filter: &JobFilter,
    action: Action,
    cap: i64,
) -> Result<BulkOutcome, EngineError> {
    let Some(mut narrowed) = actionable(filter, action) else {
        return Ok(BulkOutcome::default());
    };
    narrowed.limit = cap;
    let mut ids = ledger::job_ids(sys, &narrowed)?;
    ids.sort();
    lock(sys, &ids)?;
    let mut outcome = BulkOutcome::default();
    for id in ids {
        match act_in(sys, registry, id, action)? {
            ActionResult::Applied { .. } => outcome.applied += 1,
            ActionResult::CancelRequested => outcome.cancel_requested += 1,
            ActionResult::NotApplicable { .. } | ActionResult::NotFound => outcome.skipped += 1,
        }
    }
    let still = ledger::count_jobs(sys, &narrowed)?;
    // Running jobs asked to stop still match until their workers stop them.
    outcome.remaining = (still - i64::try_from(outcome.cancel_requested).unwrap_or(0)).max(0);
    Ok(outcome)
}

fn lock(sys: &mut SystemConn<'_>, ids: &[findash_schema::JobId]) -> Result<(), EngineError> {
    use diesel::RunQueryDsl;
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    diesel::sql_query("SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .execute(sys.conn())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_actions_reach_only_the_states_they_apply_to() {
        let any = JobFilter::default();
        let retry = actionable(&any, Action::Retry).map(|f| f.states);
        assert_eq!(
            retry,
            Some(vec![
                "dead".into(),
                "cancelled".into(),
                "quarantined".into()
            ])
        );
        let dead_or_queued = JobFilter {
            states: vec!["dead".into(), "queued".into()],
            before: Some(findash_schema::JobId::new()),
            ..JobFilter::default()
        };
        let retry = actionable(&dead_or_queued, Action::Retry);
        assert_eq!(
            retry.as_ref().map(|f| f.states.clone()),
            Some(vec!["dead".into()])
        );
        assert_eq!(retry.and_then(|f| f.before), None, "every page");
        assert_eq!(
            actionable(&dead_or_queued, Action::Cancel).map(|f| f.states),
            Some(vec!["queued".into()])
        );
        let succeeded = JobFilter {
            states: vec!["succeeded".into()],
            ..JobFilter::default()
        };
        assert!(actionable(&succeeded, Action::Cancel).is_none());
    }
}
