//! Raw apalis-redis baseline for `ops/bench/engine` (see `ops/bench/README.md`): no FinDash
//! engine, just one apalis worker on one Redis queue, measured the same way as the BullMQ script.
//!
//! 1. Throughput: N no-op jobs pushed with `push_bulk`, worker (concurrency 64, fetch batch 100,
//!    polling every 10 ms) running from the start; clock from the first push to the N-th handler
//!    call.
//! 2. Idle pickup latency: with the worker idle, 200 single pushes, one after the previous job
//!    ran, a few ms apart; latency = handler start - time just before the push.
//!
//! Prints one JSON line on stdout (progress on stderr), then deletes the run's queue keys.
//!
//! Usage: `bench_apalis [--jobs N] [--concurrency C] [--samples S] [--prefix P]`;
//! env `REDIS_URL` (default `redis://127.0.0.1:6379`), `BENCH_PREFIX`, `BENCH_JOBS`,
//! `BENCH_CONCURRENCY`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apalis::prelude::*;
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize};

/// Jobs per `push_bulk` call (one Lua script invocation).
const PUSH_CHUNK: usize = 1_000;
/// Most jobs allowed in Redis but not yet handled (scheduled + active + in flight).
///
/// apalis-redis 1.0 puts every push into the `scheduled` sorted set and `fetch_next.lua` promotes
/// all due jobs with a single Lua `unpack()`: from ~8,000 due jobs on, every fetch fails with "too
/// many results to unpack" and the worker stays dead while the backlog exists (defect 1 in
/// `shared/specs/apalis.md`). So the producer pushes in waves and never lets more than this many
/// jobs be outstanding, well below that limit. BullMQ needs no such throttle; this one costs
/// apalis a little throughput (the producer occasionally waits for the worker to catch up).
const MAX_OUTSTANDING: usize = 4_000;
/// Pause between pickup samples, so each push finds an idle worker.
const PICKUP_GAP: Duration = Duration::from_millis(5);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
const FETCH_BATCH: usize = 100;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BenchJob {
    /// Microseconds since `State::start` just before the push; set on pickup samples only.
    sent_us: Option<u64>,
}

#[derive(Debug)]
struct State {
    start: Instant,
    /// Handler calls so far.
    handled: AtomicUsize,
    /// Handler start of the latest pickup sample, in microseconds since `start`.
    last_pickup_us: AtomicU64,
}

impl State {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

async fn handle(job: BenchJob, state: Data<Arc<State>>) -> Result<(), BoxError> {
    if job.sent_us.is_some() {
        state.last_pickup_us.store(state.now_us(), Ordering::SeqCst);
    }
    state.handled.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[derive(Debug, Clone)]
struct Options {
    jobs: usize,
    concurrency: usize,
    samples: usize,
    prefix: String,
}

fn parse_options() -> Result<Options, BoxError> {
    let env_num = |name: &str, default: usize| -> Result<usize, BoxError> {
        match std::env::var(name) {
            Ok(v) => Ok(v.parse()?),
            Err(_) => Ok(default),
        }
    };
    let mut opts = Options {
        jobs: env_num("BENCH_JOBS", 50_000)?,
        concurrency: env_num("BENCH_CONCURRENCY", 64)?,
        samples: 200,
        prefix: std::env::var("BENCH_PREFIX").unwrap_or_else(|_| "findash-bench".to_owned()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--jobs" => opts.jobs = value.parse()?,
            "--concurrency" => opts.concurrency = value.parse()?,
            "--samples" => opts.samples = value.parse()?,
            "--prefix" => opts.prefix = value,
            _ => return Err(format!("unknown argument {flag}").into()),
        }
    }
    if opts.jobs == 0 || opts.concurrency == 0 || opts.samples == 0 {
        return Err("--jobs, --concurrency and --samples must be positive".into());
    }
    Ok(opts)
}

/// Nearest-rank percentile of an ascending slice.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

async fn wait_for_handled(state: &State, target: usize) {
    while state.handled.load(Ordering::SeqCst) < target {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The one line printed on stdout; same fields, same order as the BullMQ script.
#[derive(Debug, Serialize)]
struct ResultLine {
    system: &'static str,
    jobs: usize,
    concurrency: usize,
    seconds: f64,
    jobs_per_sec: u64,
    pickup_p50_ms: f64,
    pickup_p99_ms: f64,
    pickup_samples: usize,
}

struct Measured {
    seconds: f64,
    pickup_ms: Vec<f64>,
}

/// Producer side of the benchmark; runs next to the worker and stops it when done.
async fn drive(
    mut sink: RedisStorage<BenchJob>,
    state: Arc<State>,
    opts: &Options,
    worker: &WorkerContext,
) -> Result<Measured, BoxError> {
    // Throughput: waves of push_bulk, never more than MAX_OUTSTANDING unhandled jobs in Redis.
    let t0 = Instant::now();
    let mut pushed = 0;
    while pushed < opts.jobs {
        let n = PUSH_CHUNK.min(opts.jobs - pushed);
        while pushed + n - state.handled.load(Ordering::SeqCst) > MAX_OUTSTANDING {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sink.push_bulk(vec![BenchJob { sent_us: None }; n]).await?;
        pushed += n;
    }
    wait_for_handled(&state, opts.jobs).await;
    let seconds = t0.elapsed().as_secs_f64();

    // Idle pickup latency: one job at a time into an idle worker.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut pickup_ms = Vec::with_capacity(opts.samples);
    for i in 0..opts.samples {
        let sent_us = state.now_us();
        sink.push(BenchJob {
            sent_us: Some(sent_us),
        })
        .await?;
        wait_for_handled(&state, opts.jobs + i + 1).await;
        let started_us = state.last_pickup_us.load(Ordering::SeqCst);
        pickup_ms.push(started_us.saturating_sub(sent_us) as f64 / 1000.0);
        tokio::time::sleep(PICKUP_GAP).await;
    }
    worker.stop()?;
    Ok(Measured { seconds, pickup_ms })
}

/// Deletes every key of the queue (`{queue}:*`) with SCAN + DEL.
async fn delete_queue_keys(conn: &mut ConnectionManager, queue: &str) -> Result<usize, BoxError> {
    let pattern = format!("{queue}:*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            deleted += keys.len();
            redis::cmd("DEL").arg(&keys).query_async::<()>(conn).await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let opts = parse_options()?;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let run_id = format!(
        "{unix_ms}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let queue = format!("{}:apalis-{run_id}", opts.prefix);
    eprintln!(
        "apalis-redis: {} jobs, concurrency {}, queue {queue}",
        opts.jobs, opts.concurrency
    );

    let mut admin = apalis_redis::connect(url.as_str()).await?;
    let config = Config::default().queue(&queue).batch_size(FETCH_BATCH);
    let storage = RedisStorage::<BenchJob>::new(apalis_redis::connect(url.as_str()).await?)
        .with_config(config.clone());
    let sink = RedisStorage::<BenchJob>::new(apalis_redis::connect(url.as_str()).await?)
        .with_config(config);
    let state = Arc::new(State {
        start: Instant::now(),
        handled: AtomicUsize::new(0),
        last_pickup_us: AtomicU64::new(0),
    });

    // Without an explicit poll interval an idle worker polls only on its heartbeat (defect 2).
    let backend = storage.poll_with_interval(POLL_INTERVAL);
    // A unique name per run: apalis-redis refuses a name it saw recently (defect 6).
    let worker = WorkerBuilder::new(format!("bench-apalis-{run_id}"))
        .backend(backend)
        .concurrency(opts.concurrency)
        .data(state.clone())
        .build(handle);

    let measured: Arc<std::sync::Mutex<Option<Result<Measured, BoxError>>>> = Arc::default();
    let run = {
        let measured = measured.clone();
        let opts = opts.clone();
        let state = state.clone();
        worker.run_with_ctx(move |ctx| {
            let measured = measured.clone();
            let sink = sink.clone();
            let state = state.clone();
            let opts = opts.clone();
            async move {
                let result = drive(sink, state, &opts, &ctx).await;
                if result.is_err() {
                    // Stop the worker so the run ends; the error is reported below.
                    let _ = ctx.stop();
                }
                if let Ok(mut slot) = measured.lock() {
                    *slot = Some(result);
                }
                Ok(())
            }
        })
    };
    let run_result = run.await;
    let deleted = delete_queue_keys(&mut admin, &queue).await;
    run_result?;
    eprintln!("apalis-redis: deleted {} keys", deleted?);

    let measured = measured
        .lock()
        .map_err(|_| "result slot poisoned")?
        .take()
        .ok_or("benchmark did not finish")??;
    let mut sorted = measured.pickup_ms;
    sorted.sort_by(f64::total_cmp);
    let line = ResultLine {
        system: "apalis-redis",
        jobs: opts.jobs,
        concurrency: opts.concurrency,
        seconds: round(measured.seconds, 3),
        jobs_per_sec: (opts.jobs as f64 / measured.seconds).round() as u64,
        pickup_p50_ms: round(percentile(&sorted, 0.5), 2),
        pickup_p99_ms: round(percentile(&sorted, 0.99), 2),
        pickup_samples: sorted.len(),
    };
    let line = serde_json::to_string(&line)?;
    println!("{line}");
    Ok(())
}
