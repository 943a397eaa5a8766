//! `findash web`: the HTTP server until SIGTERM/SIGINT, then it stops accepting and lets
//! in-flight requests finish.

use crate::config::Config;

pub fn run(config: &Config) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let stop = super::shutdown_signal();
        findash_web::http::serve(engine.db().clone(), engine, config.web.clone(), stop).await
    })
}
