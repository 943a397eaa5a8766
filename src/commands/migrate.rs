//! `findash migrate [--status]`.

use anyhow::Context as _;
use findash_schema::migrations::{self, DatabaseCreation};

use crate::config::Config;

pub fn run(config: &Config, status_only: bool) -> anyhow::Result<()> {
    if status_only {
        let mut conn = migrations::connect_privileged(&config.database)?;
        let statuses = migrations::status(&mut conn)?;
        for m in &statuses {
            println!(
                "{} {}",
                if m.applied { "applied" } else { "pending" },
                m.name
            );
        }
        let pending = statuses.iter().filter(|m| !m.applied).count();
        println!("{} migration(s), {pending} pending", statuses.len());
        return Ok(());
    }
    prepare_database(config)
}

/// Creates the database if it is missing and applies pending migrations, saying what it did.
pub fn prepare_database(config: &Config) -> anyhow::Result<()> {
    let name = config.database.database_name()?;
    match migrations::create_database_if_missing(&config.database)
        .with_context(|| format!("cannot create database {name}"))?
    {
        DatabaseCreation::Created => println!("database {name}: created"),
        DatabaseCreation::AlreadyExisted => println!("database {name}: exists"),
    }
    let mut conn = migrations::connect_privileged(&config.database)?;
    let applied = migrations::run_pending(&mut conn)?;
    let total = migrations::status(&mut conn)?.len();
    if applied.is_empty() {
        println!("migrations: up to date ({total} applied)");
    } else {
        println!("migrations: applied {} of {total}", applied.len());
        for name in applied {
            println!("  applied {name}");
        }
    }
    Ok(())
}
