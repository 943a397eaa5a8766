//! The daily pipeline: one workflow run per tenant and local day, started by the cron's
//! `daily-sync` schedule (`daily_pipeline`).
//!
//! ```text
//! sync ──▶ sync:<connection> ×N ──(all finished, whatever the outcome)──▶ categorize
//!      ──▶ dq (the gate: critical findings block) ──▶ forecast ──(finished)──▶ summary
//! ```
//!
//! Each step is a job in the ledger; the engine starts a step once what it waits for is done,
//! exactly once (`findash_engine::workflow`). One connection failing does not hold the others
//! back: categorize waits for the syncs to finish, not to succeed, and the summary names the
//! connection that failed. A critical data-quality finding ends the gate `blocked`, so the
//! forecast step is blocked with it and no forecast is computed from data known to be wrong; the
//! summary still goes out (it waits for the forecast step to finish) and says the forecast is on
//! hold and why.

use std::time::Duration;

use chrono::{Days, NaiveDate};
use findash_engine::ledger::Trigger;
use findash_engine::workflow::{StepSpec, WorkflowSpec};
use findash_engine::{Job, JobContext, JobResult, Queue};
use findash_schema::connections::{self, ConnectionStatus};
use findash_schema::tenants;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dq::DqCheck;
use crate::sync::SyncConnection;

/// The workflow's name in `workflow_runs.workflow`.
pub const WORKFLOW: &str = "daily_pipeline";

/// The cron's `daily-sync` schedule: starts today's pipeline of every active tenant (today in
/// the tenant's time zone); a tenant whose run of the day exists already is left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyPipeline {}

impl Job for DailyPipeline {
    const KIND: &'static str = "daily_pipeline";

    async fn run(self, ctx: JobContext) -> JobResult {
        let cause = ctx.job_id().to_string();
        let started = ctx
            .start_workflows(move |sys, tenant| {
                let today = tenants::local_today(sys, tenant)?;
                Ok(Some(spec(today, Trigger::new("job", Some(cause.clone())))))
            })
            .await?;
        Ok(json!({ "started": started.started, "existing": started.existing }))
    }
}

/// The pipeline of `day` (the tenant's local date): the graph above.
pub fn spec(day: NaiveDate, trigger: Trigger) -> WorkflowSpec {
    let yesterday = day.checked_sub_days(Days::new(1)).unwrap_or(day);
    let step = |name: &str, kind: &str, payload: Value, depends_on: &[&str], waits_for: &[&str]| {
        StepSpec {
            name: name.to_owned(),
            kind: kind.to_owned(),
            payload,
            depends_on: depends_on.iter().map(|s| (*s).to_owned()).collect(),
            waits_for: waits_for.iter().map(|s| (*s).to_owned()).collect(),
        }
    };
    WorkflowSpec {
        name: WORKFLOW.to_owned(),
        run_key: day.to_string(),
        steps: vec![
            step("sync", SyncAll::KIND, json!({}), &[], &[]),
            step(
                "categorize",
                crate::categorize::Categorize::KIND,
                json!({}),
                &[],
                &["sync"],
            ),
            step(
                "dq",
                DqCheck::KIND,
                json!({ "as_of": day, "gate": true }),
                &["categorize"],
                &[],
            ),
            step(
                "forecast",
                crate::forecast::Forecast::KIND,
                json!({ "as_of": day }),
                &["dq"],
                &[],
            ),
            step(
                "summary",
                crate::email::DailySummary::KIND,
                json!({ "date": yesterday }),
                &[],
                &["forecast"],
            ),
        ],
        trigger,
    }
}

/// Syncs every connection of the tenant that is not disabled. As a workflow step it fans out one
/// `sync_connection` child step per connection (`sync:<connection id>`); on its own it enqueues
/// them as follow-up jobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncAll {}

impl Job for SyncAll {
    const KIND: &'static str = "sync_all";
    const QUEUE: Queue = Queue::Sync;
    const TIMEOUT: Duration = Duration::from_secs(60);

    async fn run(self, ctx: JobContext) -> JobResult {
        let connections = ctx.tenant_db(|scope| Ok(connections::list(scope)?)).await?;
        let children: Vec<(String, SyncConnection)> = connections
            .into_iter()
            .filter(|c| c.status != ConnectionStatus::Disabled)
            .map(|c| {
                (
                    c.id.to_string(),
                    SyncConnection {
                        connection_id: c.id,
                    },
                )
            })
            .collect();
        let count = children.len();
        if ctx.workflow().is_some() {
            ctx.fan_out(children).await?;
        } else {
            for (_, child) in &children {
                ctx.enqueue(child).await?;
            }
        }
        Ok(json!({ "connections": count }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_gates_the_forecast_and_always_sends_the_summary() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date");
        let spec = spec(day, Trigger::new("cron", None));
        assert_eq!(spec.run_key, "2026-03-01");
        let edges: Vec<String> = spec
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{} {} needs {:?} waits {:?} {}",
                    s.name, s.kind, s.depends_on, s.waits_for, s.payload
                )
            })
            .collect();
        assert_eq!(
            edges,
            [
                r#"sync sync_all needs [] waits [] {}"#,
                r#"categorize categorize needs [] waits ["sync"] {}"#,
                r#"dq dq_check needs ["categorize"] waits [] {"as_of":"2026-03-01","gate":true}"#,
                r#"forecast forecast needs ["dq"] waits [] {"as_of":"2026-03-01"}"#,
                r#"summary daily_summary needs [] waits ["forecast"] {"date":"2026-02-28"}"#,
            ]
        );
    }
}
