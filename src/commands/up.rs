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
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let (day, started) = start_demo_pipeline(&engine, demo.tenant.id).await?;
        if started {
            println!(
                "demo: daily pipeline for {day} started (sync, categorize, data quality, forecast, summary email)"
            );
        } else {
            println!("demo: daily pipeline for {day} already started");
        }
        println!(
            "admin console: {}admin (sign in as {})",
            config.web.public_base_url, demo.admin_email
        );
        println!(
            "running: HTTP server on {} ({}healthz, {}readyz, {}metrics), workers (all queues) and \
             scheduler in this process; Ctrl-C stops them.",
            config.web.bind_addr,
            config.web.public_base_url,
            config.web.public_base_url,
            config.web.public_base_url
        );
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

/// Starts the demo tenant's daily pipeline for its today (sync every connection, categorize,
/// data quality, forecast, summary email), so a fresh `up` shows a complete dashboard at once;
/// the run of a day exists once, so a second `up` (or the 02:00 UTC schedule) the same day
/// leaves it alone. Returns the day and whether this call started it.
async fn start_demo_pipeline(
    engine: &findash_engine::Engine,
    tenant: findash_schema::TenantId,
) -> anyhow::Result<(chrono::NaiveDate, bool)> {
    use findash_engine::ledger::Trigger;

    let db = engine.db().clone();
    let registry = engine.registry().clone();
    let started = tokio::task::spawn_blocking(move || {
        db.system(findash_schema::SystemTask::Jobs, |sys| {
            let today = findash_schema::tenants::local_today(sys, tenant)?;
            let spec = findash_jobs::pipeline::spec(today, Trigger::new("cli", None));
            let run = findash_engine::workflow::start(sys, &registry, tenant, &spec)?;
            Ok::<_, anyhow::Error>((today, !run.duplicate))
        })
    })
    .await??;
    engine.notify().await;
    Ok(started)
}
