//! The full engine path for `ops/bench/engine`: N no-op jobs enqueued in bulk into the ledger,
//! dispatched to Redis within the window, claimed, run and completed by apalis workers in this
//! process; then idle pickup latency (enqueue → handler start) over 200 single enqueues.
//!
//! Prints one JSON line: `{"system":"findash-engine","jobs":N,"jobs_per_sec":..,..}`.
//! Uses a database of its own (cloned from the migrated template) and a Redis namespace under
//! `BENCH_PREFIX`, both deleted at the end.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_engine::{Job, JobContext, JobResult, Queue, Registry, WorkerOptions};
use findash_schema::testing::sql;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PICKUP_SAMPLES: usize = 200;
const PICKUP_GAP: Duration = Duration::from_millis(5);
const ENQUEUE_CHUNK: usize = 5_000;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);
/// Handler start of the latest pickup sample, microseconds since START.
static PICKED_UP: AtomicU64 = AtomicU64::new(0);

/// A no-op that notes when it started (pickup samples only).
#[derive(Serialize, Deserialize)]
struct Ping {
    sample: bool,
}

impl Job for Ping {
    const KIND: &'static str = "bench_ping";
    const QUEUE: Queue = Queue::Default;

    async fn run(self, _ctx: JobContext) -> JobResult {
        if self.sample {
            let now = u64::try_from(START.elapsed().as_micros()).unwrap_or(u64::MAX);
            PICKED_UP.store(now, Ordering::SeqCst);
        }
        Ok(serde_json::Value::Null)
    }
}

fn arg(name: &str, default: usize) -> Result<usize, BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    LazyLock::force(&START);
    let jobs = arg("--jobs", 50_000)?;
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let window = arg("--window", 2_048)?;
    let registry = Registry::new().register::<Ping>();
    let t = TestEngine::start(registry, |c| {
        c.redis_namespace = format!(
            "{}:engine:{}",
            std::env::var("BENCH_PREFIX").unwrap_or_else(|_| "findash-bench".to_owned()),
            ulid_suffix()
        );
        c.dispatch_window = u32::try_from(window).unwrap_or(2_048);
        if std::env::var("BENCH_TEST_TIMINGS").is_err() {
            c.lease = Duration::from_secs(60);
            c.heartbeat = Duration::from_secs(10);
            c.reconcile_every = Duration::from_secs(5);
            c.lost_dispatch_after = Duration::from_secs(30);
        }
    })
    .await;
    let stop = CancellationToken::new();
    let workers = {
        let (engine, stop) = (t.engine.clone(), stop.clone());
        tokio::spawn(async move {
            engine
                .run_workers(
                    WorkerOptions {
                        queues: vec![Queue::Default],
                        concurrency: Some(concurrency),
                    },
                    stop,
                )
                .await;
        })
    };
    let scheduler = {
        let (engine, stop) = (t.engine.clone(), stop.clone());
        tokio::spawn(async move { engine.run_scheduler(stop).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Throughput: first enqueue to last completion.
    let row = t
        .engine
        .registry()
        .new_job("bench_ping", serde_json::json!({ "sample": false }))?;
    let started = Instant::now();
    let mut left = jobs;
    while left > 0 {
        let n = left.min(ENQUEUE_CHUNK);
        t.engine
            .enqueue_rows(
                None,
                vec![row.clone(); n],
                EnqueueOptions::new(Trigger::new("cli", None)),
            )
            .await?;
        left -= n;
    }
    // Completion is watched through the engine's own counter, not by querying the ledger,
    // which would take database time from the engine being measured.
    let succeeded = findash_engine::metrics::get()
        .outcomes
        .with_label_values(&["bench_ping", "succeeded"]);
    let expected = u64::try_from(jobs)?;
    loop {
        let done = succeeded.get();
        if done >= expected {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {done} of {jobs} jobs finished in 10 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let batches = &findash_engine::metrics::get().batch_size;
    for transition in ["claim", "outcome"] {
        let h = batches.with_label_values(&[transition]);
        eprintln!(
            "bench: {transition} statements {} averaging {:.1} jobs",
            h.get_sample_count(),
            h.get_sample_sum() / h.get_sample_count().max(1) as f64
        );
    }
    // Outcomes are recorded just after the counter moves: give the last batch a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut conn = t.db.admin_conn();
    let failed = sql::count(
        &mut conn,
        "SELECT count(*) AS n FROM jobs WHERE state <> 'succeeded'",
    );

    // Idle pickup: one job at a time into idle workers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pickups = Vec::with_capacity(PICKUP_SAMPLES);
    let sample = t
        .engine
        .registry()
        .new_job("bench_ping", serde_json::json!({ "sample": true }))?;
    for _ in 0..PICKUP_SAMPLES {
        PICKED_UP.store(0, Ordering::SeqCst);
        let sent = u64::try_from(START.elapsed().as_micros())?;
        t.engine
            .enqueue_rows(
                None,
                vec![sample.clone()],
                EnqueueOptions::new(Trigger::new("cli", None)),
            )
            .await?;
        let waited = Instant::now();
        while PICKED_UP.load(Ordering::SeqCst) == 0 {
            if waited.elapsed() > Duration::from_secs(10) {
                return Err("a pickup sample did not start within 10 s".into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        pickups.push((PICKED_UP.load(Ordering::SeqCst).saturating_sub(sent)) as f64 / 1000.0);
        tokio::time::sleep(PICKUP_GAP).await;
    }
    pickups.sort_by(f64::total_cmp);

    stop.cancel();
    let _ = workers.await;
    let _ = scheduler.await;
    delete_namespace(&t.engine.config().redis_namespace).await;
    let line = serde_json::json!({
        "system": "findash-engine",
        "jobs": jobs,
        "concurrency": concurrency,
        "window": window,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "jobs_per_sec": (jobs as f64 / seconds).round() as u64,
        "not_succeeded": failed,
        "pickup_p50_ms": (percentile(&pickups, 0.50) * 100.0).round() / 100.0,
        "pickup_p99_ms": (percentile(&pickups, 0.99) * 100.0).round() / 100.0,
        "pickup_samples": pickups.len(),
    });
    println!("{line}");
    Ok(())
}

fn ulid_suffix() -> String {
    format!(
        "{:x}",
        Instant::now().duration_since(*START).as_nanos() ^ u128::from(std::process::id())
    )
}
