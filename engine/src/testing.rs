//! Test support: an engine on a test database and a Redis namespace of its own, deleted when
//! the test ends. Redis must be reachable (`REDIS_URL`, default `redis://127.0.0.1:6379`): a
//! test that needs it fails loudly without it.

use std::time::Duration;

use findash_schema::testing::TestDb;
use secrecy::SecretString;

use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineConfig, Registry, WorkerOptions};

/// The Redis URL tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh namespace, `test:<ulid>`.
pub fn unique_namespace() -> String {
    format!("test:{}", ulid::Ulid::generate().to_string().to_lowercase())
}

/// Engine settings for tests: short lease and polls so recovery paths run in seconds.
pub fn config(namespace: &str) -> EngineConfig {
    let mut config = EngineConfig::new(SecretString::from(redis_url()));
    config.redis_namespace = namespace.to_owned();
    config.environment = "test".to_owned();
    config.lease = Duration::from_secs(3);
    config.heartbeat = Duration::from_millis(300);
    config.reconcile_every = Duration::from_millis(500);
    config.lost_dispatch_after = Duration::from_secs(1);
    config.dispatch_poll = Duration::from_millis(100);
    config.shutdown_timeout = Duration::from_secs(2);
    // The hourly `prune` and the half-hourly `refresh-rates` would add jobs of their own (and
    // call the ECB) in any test that starts near or crosses their time; tests of cron set their
    // schedules themselves.
    config.cron_overrides = "prune=off;refresh-rates=off".to_owned();
    config
}

/// Deletes every key of `namespace`.
pub async fn delete_namespace(namespace: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = match redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query_async(&mut conn)
        .await
    {
        Ok(keys) => keys,
        Err(_) => return,
    };
    for chunk in keys.chunks(500) {
        let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
    }
}

/// A database, a Redis namespace and an engine on both.
pub struct TestEngine {
    pub db: TestDb,
    pub namespace: String,
    pub engine: Engine,
}

impl TestEngine {
    /// Starts an engine with `registry`, after `tweak` adjusts the configuration.
    pub async fn start(registry: Registry, tweak: impl FnOnce(&mut EngineConfig)) -> TestEngine {
        let db = TestDb::new();
        let namespace = unique_namespace();
        let mut config = config(&namespace);
        tweak(&mut config);
        // The engine keeps about eight system connections busy at once (two claim and two
        // outcome statements, dispatcher, reconciler, heartbeat, cron); the harness's default
        // pool of 4 would make lease renewals queue behind them.
        let mut db_config = db.config();
        db_config.pool_size = 16;
        let pools = match findash_schema::Db::connect(&db_config) {
            Ok(pools) => pools,
            Err(e) => panic!("test database pools: {e:#}"),
        };
        let engine = match Engine::connect(config, pools, registry).await {
            Ok(engine) => engine,
            Err(e) => panic!(
                "engine did not start (is Redis running at {}?): {e:#}",
                redis_url()
            ),
        };
        TestEngine {
            db,
            namespace,
            engine,
        }
    }

    /// Starts workers (all queues, `concurrency` each) and the scheduler.
    pub fn run(&self, concurrency: usize) -> Running {
        let stop = CancellationToken::new();
        let workers = {
            let (engine, stop) = (self.engine.clone(), stop.clone());
            tokio::spawn(async move {
                engine
                    .run_workers(
                        WorkerOptions {
                            queues: crate::Queue::ALL.to_vec(),
                            concurrency: Some(concurrency),
                        },
                        stop,
                    )
                    .await;
            })
        };
        let scheduler = {
            let (engine, stop) = (self.engine.clone(), stop.clone());
            tokio::spawn(async move {
                if let Err(e) = engine.run_scheduler(stop).await {
                    panic!("scheduler failed: {e:#}");
                }
            })
        };
        Running {
            stop,
            handles: vec![workers, scheduler],
        }
    }
}

/// Workers and scheduler of a test engine, stopped when dropped.
pub struct Running {
    pub stop: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        for handle in self.handles.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(15), handle).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
