//! Operator actions on the ledger: cancel, retry now, discard.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use findash_schema::JobId;

use super::enqueue::LedgerScope;

/// What an operator can do to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Queued or retrying: it never runs. Running: its worker is told to stop (cooperatively,
    /// at the handler's next await) and the attempt ends `cancelled`.
    Cancel,
    /// Dead, cancelled or quarantined (or succeeded by blocking its workflow): run it again now
    /// with a fresh set of attempts.
    Retry,
    /// Dead, cancelled or quarantined: delete it and its history.
    Discard,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Retry, Action::Cancel, Action::Discard];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Cancel => "cancel",
            Action::Retry => "retry",
            Action::Discard => "discard",
        }
    }

    /// The action named `name` (`retry`, `cancel`, `discard`).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether this action applies to a job in `state` whose latest attempt ended
    /// `last_outcome`: the states of [`Action::applies_to`], and for retry also a job that
    /// succeeded by blocking its workflow (a data-quality gate), which retrying resumes.
    pub fn applies(self, state: &str, last_outcome: Option<&str>) -> bool {
        self.applies_to().contains(&state)
            || (self == Action::Retry && state == "succeeded" && last_outcome == Some("blocked"))
    }

    /// The states this action applies to whatever the job's attempts (what bulk actions
    /// select by); retry also applies to a blocked gate, see [`Action::applies`].
    pub fn applies_to(self) -> &'static [&'static str] {
        match self {
            Action::Cancel => &["queued", "retrying", "running"],
            Action::Retry | Action::Discard => &["dead", "cancelled", "quarantined"],
        }
    }
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// Done; the job's state now.
    Applied { state: String },
    /// A running job was asked to stop; its worker ends it `cancelled`.
    CancelRequested,
    /// The job is in a state the action does not apply to.
    NotApplicable { state: String },
    /// No such job (in this scope).
    NotFound,
}

#[derive(QueryableByName)]
struct StateRow {
    #[diesel(sql_type = Text)]
    state: String,
}

/// Applies `action` to job `id`, as seen from `scope` (a tenant sees only its jobs). The row
/// is locked first, so the action and a worker's transition never interleave.
pub fn apply_action(
    scope: &mut impl LedgerScope,
    id: JobId,
    action: Action,
) -> QueryResult<ActionResult> {
    let conn = scope.pg();
    let current: Option<StateRow> =
        diesel::sql_query("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
            .bind::<SqlUuid, _>(id.0)
            .get_result(conn)
            .optional()?;
    let Some(current) = current else {
        return Ok(ActionResult::NotFound);
    };
    let not_applicable = || {
        Ok(ActionResult::NotApplicable {
            state: current.state.clone(),
        })
    };
    let applied = |rows: Vec<StateRow>| match rows.into_iter().next() {
        Some(row) => ActionResult::Applied { state: row.state },
        None => ActionResult::NotFound,
    };
    // A job that succeeded by stopping its workflow (a data-quality gate that found critical
    // problems) may run again once they are fixed: retrying it resumes the run.
    let blocked = current.state == "succeeded" && action == Action::Retry && {
        #[derive(QueryableByName)]
        struct Outcome {
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            outcome: Option<String>,
        }
        let last: Option<Outcome> = diesel::sql_query(
            "SELECT outcome FROM job_attempts WHERE job_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind::<SqlUuid, _>(id.0)
        .get_result(conn)
        .optional()?;
        action.applies(&current.state, last.and_then(|o| o.outcome).as_deref())
    };
    match (action, current.state.as_str()) {
        (Action::Retry, "succeeded") if blocked => {
            let rows = diesel::sql_query(
                "UPDATE jobs SET state = 'queued', attempts = 0, deferrals = 0, lease_losses = 0, \
                        run_at = now(), finished_at = NULL, cancel_requested_at = NULL, \
                        dispatched_at = NULL, dispatch_token = NULL, result = NULL \
                 WHERE id = $1 RETURNING state",
            )
            .bind::<SqlUuid, _>(id.0)
            .load(conn)?;
            Ok(applied(rows))
        }
        (Action::Cancel, "queued" | "retrying") => {
            let rows = diesel::sql_query(
                "UPDATE jobs SET state = 'cancelled', finished_at = now(), \
                        cancel_requested_at = now(), dispatched_at = NULL, dispatch_token = NULL, \
                        last_error = 'cancelled by an operator' \
                 WHERE id = $1 RETURNING state",
            )
            .bind::<SqlUuid, _>(id.0)
            .load(conn)?;
            Ok(applied(rows))
        }
        (Action::Cancel, "running") => {
            diesel::sql_query(
                "UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, now()) \
                 WHERE id = $1",
            )
            .bind::<SqlUuid, _>(id.0)
            .execute(conn)?;
            Ok(ActionResult::CancelRequested)
        }
        (Action::Retry, "dead" | "cancelled" | "quarantined") => {
            let rows = diesel::sql_query(
                "UPDATE jobs SET state = 'queued', attempts = 0, deferrals = 0, lease_losses = 0, \
                        run_at = now(), finished_at = NULL, cancel_requested_at = NULL, \
                        dispatched_at = NULL, dispatch_token = NULL \
                 WHERE id = $1 RETURNING state",
            )
            .bind::<SqlUuid, _>(id.0)
            .load(conn)?;
            Ok(applied(rows))
        }
        (Action::Discard, "dead" | "cancelled" | "quarantined") => {
            diesel::sql_query("DELETE FROM jobs WHERE id = $1")
                .bind::<SqlUuid, _>(id.0)
                .execute(conn)?;
            Ok(ActionResult::Applied {
                state: "discarded".to_owned(),
            })
        }
        _ => not_applicable(),
    }
}
