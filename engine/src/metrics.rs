//! Prometheus metrics of the engine, in one registry the web layer serves at `/metrics`.
//!
//! Labels are queues, kinds, states and outcomes: never tenants, keys or payloads, which would
//! both leak data and grow without bound.

use std::sync::LazyLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::ledger::Enqueued;

/// The engine's metrics.
pub struct Metrics {
    pub registry: Registry,
    pub enqueued: IntCounterVec,
    pub duplicates: IntCounterVec,
    pub started: IntCounterVec,
    pub outcomes: IntCounterVec,
    pub duration: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub oldest_queued_seconds: IntGaugeVec,
    pub dispatched: IntCounterVec,
    pub reconciler: IntCounterVec,
    pub unknown_kinds: IntGaugeVec,
    pub live_workers: IntGaugeVec,
    pub worker_restarts: IntCounterVec,
    pub rate_limit_waits: IntCounterVec,
    pub batch_size: HistogramVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::build);

/// The process's engine metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("metric {name} is well-formed: {e}"));
    register(registry, Box::new(metric.clone()));
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("metric {name} is well-formed: {e}"));
    register(registry, Box::new(metric.clone()));
    metric
}

// Names are constants, distinct, and registered once per process (the LazyLock), so
// registration cannot fail; if it ever did, metrics would be missing, not the engine.
fn register(registry: &Registry, metric: Box<dyn prometheus::core::Collector>) {
    if let Err(e) = registry.register(metric) {
        tracing::error!(error = %e, "metric registration failed");
    }
}

impl Metrics {
    fn build() -> Metrics {
        let registry = Registry::new();
        let buckets = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ];
        let duration = HistogramVec::new(
            HistogramOpts::new("findash_job_duration_seconds", "Run time of job attempts")
                .buckets(buckets),
            &["kind", "outcome"],
        )
        .unwrap_or_else(|e| unreachable!("histogram is well-formed: {e}"));
        register(&registry, Box::new(duration.clone()));
        let batch_size = HistogramVec::new(
            HistogramOpts::new(
                "findash_ledger_batch_size",
                "Jobs per claim or outcome statement",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
            &["transition"],
        )
        .unwrap_or_else(|e| unreachable!("histogram is well-formed: {e}"));
        register(&registry, Box::new(batch_size.clone()));
        Metrics {
            batch_size,
            enqueued: counter(
                &registry,
                "findash_jobs_enqueued_total",
                "Jobs written to the ledger",
                &["kind"],
            ),
            duplicates: counter(
                &registry,
                "findash_jobs_duplicate_total",
                "Enqueues answered with an existing job",
                &["kind"],
            ),
            started: counter(
                &registry,
                "findash_jobs_started_total",
                "Attempts started",
                &["kind"],
            ),
            outcomes: counter(
                &registry,
                "findash_job_outcomes_total",
                "Attempts by how they ended",
                &["kind", "outcome"],
            ),
            queue_depth: gauge(
                &registry,
                "findash_queue_depth",
                "Jobs waiting per queue and state",
                &["queue", "state"],
            ),
            oldest_queued_seconds: gauge(
                &registry,
                "findash_queue_oldest_due_seconds",
                "Age of the oldest due, unstarted job per queue",
                &["queue"],
            ),
            dispatched: counter(
                &registry,
                "findash_jobs_dispatched_total",
                "Jobs handed to Redis",
                &["queue"],
            ),
            reconciler: counter(
                &registry,
                "findash_reconciler_actions_total",
                "Reconciler repairs",
                &["action"],
            ),
            unknown_kinds: gauge(
                &registry,
                "findash_jobs_unknown_kind",
                "Pending jobs of kinds no worker knows",
                &["kind"],
            ),
            rate_limit_waits: counter(
                &registry,
                "findash_job_rate_limit_waits_total",
                "Attempts deferred by a rate limit",
                &["kind"],
            ),
            worker_restarts: counter(
                &registry,
                "findash_worker_restarts_total",
                "apalis workers that died and were replaced",
                &["queue"],
            ),
            live_workers: gauge(
                &registry,
                "findash_live_workers",
                "apalis workers running in this process",
                &["queue"],
            ),
            duration,
            registry,
        }
    }

    pub(crate) fn record_enqueued(&self, kinds: &[String], results: &[Enqueued]) {
        for (kind, result) in kinds.iter().zip(results) {
            if result.duplicate {
                self.duplicates.with_label_values(&[kind.as_str()]).inc();
            } else {
                self.enqueued.with_label_values(&[kind.as_str()]).inc();
            }
        }
    }
}
