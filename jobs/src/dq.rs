//! Data-quality checks (`dq_check`) and the gate of the daily pipeline.
//!
//! A run executes every check of `findash_schema::dq::CHECKS` against the tenant's data and
//! records what they found as findings: one open finding per problem, refreshed while it lasts,
//! resolved once a run no longer finds it. As the pipeline's gate (`gate: true`) the job then
//! ends `blocked` when any critical finding is open, naming them, so the forecast step and
//! everything after it never run on data known to be wrong; warnings only annotate.

use std::time::Duration;

use chrono::NaiveDate;
use findash_engine::{Job, JobContext, JobError, JobResult, Queue};
use findash_schema::dq;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Runs the data-quality checks of the tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DqCheck {
    /// The day the checks look from (default the tenant's today); with it, one run per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<NaiveDate>,
    /// End `blocked` when a critical finding is open (the pipeline's gate).
    #[serde(default)]
    pub gate: bool,
}

impl Job for DqCheck {
    const KIND: &'static str = "dq_check";
    const QUEUE: Queue = Queue::Dq;
    const TIMEOUT: Duration = Duration::from_secs(10 * 60);
    const CHANGES_DASHBOARD: bool = true;

    fn idempotency_key(&self) -> Option<String> {
        self.as_of
            .map(|day| format!("dq:{day}:{}", if self.gate { "gate" } else { "run" }))
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let as_of = self.as_of;
        let (day, recorded, by_severity, blocking) = ctx
            .tenant_db(move |scope| {
                dq::lock(scope)?;
                let day = match as_of {
                    Some(day) => day,
                    None => findash_schema::tenants::local_today_in(scope)?,
                };
                let mut found = Vec::new();
                for check in dq::CHECKS {
                    found.extend(dq::run(scope, check, day)?);
                }
                let names: Vec<&str> = dq::CHECKS.iter().map(|c| c.name).collect();
                let recorded = dq::record(scope, &names, &found)?;
                let mut by_severity = std::collections::BTreeMap::<String, usize>::new();
                for f in &found {
                    *by_severity.entry(f.severity.clone()).or_default() += 1;
                }
                let open = dq::open_findings(scope, None)?;
                let critical: Vec<_> = open
                    .into_iter()
                    .filter(dq::OpenFinding::is_critical)
                    .collect();
                Ok((day, recorded, by_severity, critical))
            })
            .await?;
        tracing::info!(
            opened = recorded.opened,
            still_open = recorded.still_open,
            resolved = recorded.resolved,
            critical = blocking.len(),
            "data-quality checks recorded"
        );
        if self.gate && !blocking.is_empty() {
            return Err(blocked(&blocking));
        }
        Ok(json!({
            "day": day,
            "checks": dq::CHECKS.len(),
            "found": by_severity,
            "opened": recorded.opened,
            "still_open": recorded.still_open,
            "resolved": recorded.resolved,
            "open_critical": blocking.len(),
        }))
    }
}

/// The verdict while critical findings are open (the gate's, and the forecast's when it runs on
/// its own): the job succeeds and its workflow stops.
pub fn blocked(critical: &[dq::OpenFinding]) -> JobError {
    JobError::Blocked {
        reason: blocked_reason(critical),
    }
}

/// Why: how many critical findings, and the first few.
fn blocked_reason(blocking: &[dq::OpenFinding]) -> String {
    const SHOWN: usize = 3;
    let mut reason = format!(
        "{} critical data-quality finding{} open: ",
        blocking.len(),
        if blocking.len() == 1 { "" } else { "s" }
    );
    let listed: Vec<String> = blocking
        .iter()
        .take(SHOWN)
        .map(|b| format!("{} ({})", b.check_name, b.message))
        .collect();
    reason.push_str(&listed.join("; "));
    if blocking.len() > SHOWN {
        reason.push_str(&format!("; and {} more", blocking.len() - SHOWN));
    }
    reason
}

/// The cron's `dq` schedule: one `dq_check` per active tenant, for its today.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DqAll {}

impl Job for DqAll {
    const KIND: &'static str = "dq_all";
    const QUEUE: Queue = Queue::Dq;

    async fn run(self, ctx: JobContext) -> JobResult {
        let enqueued = ctx
            .enqueue_per_tenant(|_, today| DqCheck {
                as_of: Some(today),
                gate: false,
            })
            .await?;
        Ok(json!({ "tenants": enqueued }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocked_reason_counts_and_names_the_first_findings() {
        let b = |n: usize| dq::OpenFinding {
            id: uuid::Uuid::nil(),
            check_name: "balance_continuity".to_owned(),
            severity: "critical".to_owned(),
            subject_type: "account".to_owned(),
            subject_id: None,
            message: format!("account {n}"),
        };
        assert_eq!(
            blocked_reason(&[b(1)]),
            "1 critical data-quality finding open: balance_continuity (account 1)"
        );
        assert_eq!(
            blocked_reason(&[b(1), b(2), b(3), b(4), b(5)]),
            "5 critical data-quality findings open: balance_continuity (account 1); \
             balance_continuity (account 2); balance_continuity (account 3); and 2 more"
        );
    }
}
