//! The engine across real processes: workers killed with SIGKILL, several schedulers, and jobs
//! shared by several workers. Each test has its own database and Redis namespace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use findash_schema::testing::{TestDb, sql};

struct Env {
    db: TestDb,
    namespace: String,
}

impl Env {
    fn new() -> Env {
        Env {
            db: TestDb::new(),
            namespace: format!("test:{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_findash"));
        command
            .args(args)
            .env_clear()
            .env("FINDASH_ENV", "test")
            .env("DATABASE_URL", self.db.url())
            .env(
                "REDIS_URL",
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            )
            .env("REDIS_NAMESPACE", &self.namespace)
            .env("JOB_LEASE", "2s")
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
    }

    fn spawn(&self, args: &[&str], extra: &[(&str, &str)]) -> Child {
        self.command(args, extra).spawn().expect("start findash")
    }

    fn enqueue(&self, args: &[&str]) -> String {
        let output = self
            .command(&[&["enqueue"], args].concat(), &[])
            .output()
            .unwrap();
        assert!(output.status.success(), "enqueue failed: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn count(&self, query: &str) -> i64 {
        sql::count(&mut self.db.admin_conn(), query)
    }

    fn wait(&self, query: &str, expected: i64, timeout: Duration) {
        let started = Instant::now();
        loop {
            let n = self.count(query);
            if n == expected {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "`{query}` is {n}, expected {expected}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Env {
    /// The namespace's Redis keys go with the test (its processes have stopped by now).
    fn drop(&mut self) {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.namespace))
            .query(&mut conn)
            .unwrap_or_default();
        for chunk in keys.chunks(500) {
            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query(&mut conn);
        }
    }
}

struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn a_job_whose_worker_is_killed_mid_run_completes_once_after_its_lease_expires() {
    let env = Env::new();
    let mut scheduler = env.spawn(&["scheduler"], &[]);
    let mut victim = env.spawn(&["worker", "--queues", "default"], &[]);
    let id = env.enqueue(&["noop", "--json", r#"{"sleep_ms": 3000}"#]);
    env.wait(
        &format!("SELECT count(*) AS n FROM jobs WHERE id = '{id}' AND state = 'running'"),
        1,
        Duration::from_secs(20),
    );
    victim.kill().unwrap(); // SIGKILL: no chance to release anything
    victim.wait().unwrap();
    let survivor = env.spawn(&["worker", "--queues", "default"], &[]);
    let mut reaper = Reaper(vec![survivor]);
    env.wait(
        &format!("SELECT count(*) AS n FROM jobs WHERE id = '{id}' AND state = 'succeeded'"),
        1,
        Duration::from_secs(40),
    );
    assert_eq!(
        sql::texts(
            &mut env.db.admin_conn(),
            &format!(
                "SELECT outcome AS value FROM job_attempts WHERE job_id = '{id}' ORDER BY attempt"
            )
        ),
        ["lease_expired", "succeeded"],
        "the killed run is on record, and the job's effect (its success) happened once"
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{id}' AND attempts = 1 AND lease_losses = 1"
        )),
        1
    );
    terminate(&mut reaper.0[0]);
    terminate(&mut scheduler);
}

#[test]
fn sigterm_lets_short_jobs_finish_and_releases_the_rest_at_the_deadline() {
    let env = Env::new();
    let mut scheduler = env.spawn(&["scheduler"], &[]);
    let mut worker = env.spawn(
        &["worker", "--queues", "default"],
        &[("WORKER_SHUTDOWN_TIMEOUT", "2s"), ("JOB_LEASE", "60s")],
    );
    let short = env.enqueue(&["noop", "--json", r#"{"sleep_ms": 1000}"#]);
    let long = env.enqueue(&["noop", "--json", r#"{"sleep_ms": 60000}"#]);
    env.wait(
        "SELECT count(*) AS n FROM jobs WHERE state = 'running'",
        2,
        Duration::from_secs(20),
    );
    // Nothing may dispatch the released job again before it is looked at.
    terminate(&mut scheduler);
    let signalled = Instant::now();
    terminate(&mut worker);
    let stopped_after = signalled.elapsed();
    assert!(
        stopped_after < Duration::from_secs(10),
        "the worker took {stopped_after:?} to stop with a 2 s shutdown timeout"
    );
    let state = |id: &str| {
        sql::texts(
            &mut env.db.admin_conn(),
            &format!(
                "SELECT state || ' ' || attempts || ' ' || coalesce(string_agg(a.outcome, ',' ORDER BY a.attempt), '') AS value \
                 FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id WHERE j.id = '{id}' \
                 GROUP BY j.id"
            ),
        )
    };
    assert_eq!(
        state(&short),
        ["succeeded 1 succeeded"],
        "finished within the deadline"
    );
    assert_eq!(
        state(&long),
        ["queued 0 released"],
        "released at the deadline: back in the queue, the attempt given back"
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{long}' AND lease_owner IS NULL \
               AND dispatched_at IS NULL AND run_at <= now()"
        )),
        1,
        "a released job holds no lease and is due for the next worker at once"
    );
}

#[test]
fn three_schedulers_enqueue_each_tick_once() {
    let env = Env::new();
    // Every minute, so the current minute's tick is due as the schedulers start.
    // refresh-rates would catch up its latest tick too; this test counts prune's.
    let cron = [("CRON_SCHEDULES", "prune=* * * * *;refresh-rates=off")];
    let mut schedulers = Reaper((0..3).map(|_| env.spawn(&["scheduler"], &cron)).collect());
    env.wait(
        "SELECT least(count(*), 1) AS n FROM cron_ticks WHERE schedule = 'prune'",
        1,
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_secs(3));
    for child in &mut schedulers.0 {
        terminate(child);
    }
    // One minute boundary may pass during the test: then there are two fire times. Either way,
    // each fire time was ticked by exactly one of the three replicas and enqueued one job.
    let ticks = env.count("SELECT count(*) AS n FROM cron_ticks WHERE schedule = 'prune'");
    assert!((1..=2).contains(&ticks), "{ticks} ticks in a few seconds");
    assert_eq!(
        env.count("SELECT count(DISTINCT fire_at) AS n FROM cron_ticks WHERE schedule = 'prune'"),
        ticks
    );
    assert_eq!(
        env.count("SELECT count(*) AS n FROM jobs WHERE kind = 'prune' AND trigger_kind = 'cron'"),
        ticks,
        "one job per tick"
    );
    assert_eq!(
        env.count(
            "SELECT count(*) AS n FROM cron_ticks t JOIN jobs j ON j.id = t.job_id \
             WHERE t.outcome = 'enqueued' AND j.trigger_ref = t.id::text"
        ),
        ticks
    );
}

#[test]
fn a_rate_limit_holds_across_two_worker_processes() {
    let env = Env::new();
    // No schedule may add jobs to the counts below.
    let limit = [
        ("RATE_LIMITS", "drill=2/1s:2"),
        ("CRON_SCHEDULES", "refresh-rates=off"),
    ];
    let mut children = Reaper(vec![
        env.spawn(&["scheduler"], &limit),
        env.spawn(&["worker", "--queues", "default"], &limit),
        env.spawn(&["worker", "--queues", "default"], &limit),
    ]);
    env.enqueue(&[
        "noop",
        "--json",
        r#"{"rate_limit_key": "drill:shared"}"#,
        "--count",
        "12",
    ]);
    env.wait(
        "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'",
        12,
        Duration::from_secs(60),
    );
    // GCRA at 2/s with a burst of 2: 12 runs need at least (12 - 2) / 2 = 5 s, whichever of the
    // two processes ran them.
    let spread = env.count("SELECT (extract(epoch FROM max(finished_at) - min(started_at)) * 1000)::bigint AS n FROM job_attempts WHERE outcome = 'succeeded'");
    assert!(spread >= 4500, "12 limited runs took {spread} ms");
    assert!(env.count("SELECT count(*) AS n FROM job_attempts WHERE outcome = 'deferred'") > 0);
    for child in &mut children.0 {
        terminate(child);
    }
    // What operators script against (README): `findash jobs stats --json`.
    let output = env
        .command(&["jobs", "stats", "--json"], &[])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["total"], 12);
    assert_eq!(stats["by_state"]["succeeded"], 12);
    assert_eq!(
        stats["by_state"]["dead"], 0,
        "every state is present, zero or not"
    );
    assert_eq!(stats["by_kind"]["noop"], 12);
}
