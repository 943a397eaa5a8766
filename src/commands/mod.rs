//! One module per subcommand. Each prints what it did on stdout; diagnostics go to the log
//! (stderr).

pub mod check_config;
pub mod connections;
pub mod enqueue;
pub mod jobs;
pub mod migrate;
pub mod scheduler;
pub mod seed;
pub mod token;
pub mod up;
pub mod web;
pub mod webhooks;
pub mod worker;

use anyhow::Context as _;
use findash_schema::{Db, migrations};

use crate::config::Config;

/// The application pool, on a database that has every migration of this build. Every role that
/// serves or works starts here, so none runs against a database that is behind.
pub fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db =
        Db::connect(&config.database).context("cannot open the application's connection pool")?;
    let mut conn = db.conn()?;
    migrations::ensure_current(&mut conn)?;
    Ok(db)
}

/// A multi-threaded Tokio runtime for the commands that talk to Redis or run loops.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The engine on the application's database, with every job type of this build.
pub async fn engine(config: &Config) -> anyhow::Result<findash_engine::Engine> {
    // Opening the pools blocks (connect, migration check): off the async workers' backs. The
    // runtime is `runtime()`'s multi-threaded one, where `block_in_place` is allowed.
    let db = tokio::task::block_in_place(|| open_db(config))?;
    let registry = findash_jobs::registry(&config.jobs).context("cannot set up the job types")?;
    findash_engine::Engine::connect(config.engine.clone(), db, registry)
        .await
        .context("cannot start the job engine")
}

/// Cancelled on the first SIGTERM or SIGINT.
pub fn shutdown_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}
