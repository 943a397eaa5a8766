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
        let queued = sync_demo(&engine, demo.tenant.id).await?;
        println!("demo: {queued} sandbox connection sync(s) queued (once a day)");
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

/// Queues a sync of each of the demo tenant's sandbox connections, once per day however often
/// `up` restarts, so the dashboard has books to show.
async fn sync_demo(
    engine: &findash_engine::Engine,
    tenant: findash_schema::TenantId,
) -> anyhow::Result<usize> {
    use findash_engine::ledger::{EnqueueOptions, Trigger};
    use findash_schema::connections::{self, Provider};

    let db = engine.db().clone();
    let sandboxes = tokio::task::spawn_blocking(move || {
        db.tenant(tenant, |scope| {
            connections::list(scope).map_err(findash_schema::DbError::from)
        })
    })
    .await??
    .into_iter()
    .filter(|c| c.provider == Provider::Sandbox);
    let today = chrono::Utc::now().date_naive();
    let mut queued = 0;
    for connection in sandboxes {
        let mut options = EnqueueOptions::new(Trigger::new("cli", None));
        options.idempotency_key = Some(format!("up:{}:{today}", connection.id));
        let job = findash_jobs::sync::SyncConnection {
            connection_id: connection.id,
        };
        if !engine.enqueue(Some(tenant), &job, options).await?.duplicate {
            queued += 1;
        }
    }
    Ok(queued)
}
