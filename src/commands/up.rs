//! `findash up`: the development all-in-one.

use findash_schema::seed;

use crate::config::Config;

pub fn run(config: &Config) -> anyhow::Result<()> {
    super::migrate::prepare_database(config)?;
    let db = super::open_db(config)?;
    let demo = super::seed::seed_demo(&db, config)?;
    super::seed::print_demo(&demo);
    let categories = seed::default_categories(&db)?;
    println!(
        "categories: {} default(s) inserted across {} tenant(s)",
        categories.inserted, categories.tenants
    );
    println!(
        "ready: database prepared and demo data seeded. Mint an API token with \
         `findash token --tenant {} --role admin` (needs JWT_SECRET).",
        seed::DEMO_SLUG
    );
    println!(
        "running: workers (all queues) and scheduler in this process; Ctrl-C stops them. \
         The HTTP server ({}) is not part of this build yet (see ARCHITECTURE.md).",
        config.web.public_base_url
    );
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let stop = super::shutdown_signal();
        let scheduler = {
            let (engine, stop) = (engine.clone(), stop.clone());
            tokio::spawn(async move { engine.run_scheduler(stop).await })
        };
        engine
            .run_workers(findash_engine::WorkerOptions::default(), stop)
            .await;
        scheduler.await??;
        Ok(())
    })
}
