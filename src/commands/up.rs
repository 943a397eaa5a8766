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
        "running: HTTP server on {} ({}healthz, {}readyz, {}metrics), workers (all queues) and \
         scheduler in this process; Ctrl-C stops them.",
        config.web.bind_addr,
        config.web.public_base_url,
        config.web.public_base_url,
        config.web.public_base_url
    );
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let stop = super::shutdown_signal();
        let scheduler = {
            let (engine, stop) = (engine.clone(), stop.clone());
            tokio::spawn(async move { engine.run_scheduler(stop).await })
        };
        let web = {
            let (engine, stop, web) = (engine.clone(), stop.clone(), config.web.clone());
            tokio::spawn(async move {
                let served =
                    findash_web::http::serve(engine.db().clone(), engine, web, stop.clone()).await;
                // Without its server the all-in-one is not running: stop the rest too.
                stop.cancel();
                served
            })
        };
        engine
            .run_workers(findash_engine::WorkerOptions::default(), stop)
            .await;
        scheduler.await??;
        web.await??;
        Ok(())
    })
}
