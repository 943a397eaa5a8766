//! `findash scheduler`: dispatcher, reconciler and cron until SIGTERM/SIGINT.

use crate::config::Config;

pub fn run(config: &Config) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let stop = super::shutdown_signal();
        engine.run_scheduler(stop).await?;
        Ok(())
    })
}
