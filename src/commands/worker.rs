//! `findash worker`: worker pools until SIGTERM/SIGINT.

use findash_engine::{Queue, WorkerOptions};

use crate::config::Config;

pub fn run(config: &Config, queues: Vec<Queue>, concurrency: Option<usize>) -> anyhow::Result<()> {
    let options = WorkerOptions {
        queues: if queues.is_empty() {
            Queue::ALL.to_vec()
        } else {
            queues
        },
        concurrency,
    };
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let stop = super::shutdown_signal();
        engine.run_workers(options, stop).await;
        Ok(())
    })
}
