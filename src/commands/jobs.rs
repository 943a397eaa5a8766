//! `findash jobs`: the ledger from a shell (system path: every tenant's jobs).

use anyhow::bail;
use findash_engine::ledger::{self, Action, ActionResult, JobFilter};
use findash_schema::{JobId, SystemTask};

use crate::cli::JobsCommand;
use crate::config::Config;

pub fn run(config: &Config, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List {
            state,
            kind,
            queue,
            limit,
            json,
        } => {
            let db = super::open_db(config)?;
            let filter = JobFilter {
                states: state.into_iter().collect(),
                kind,
                queue,
                limit,
                ..JobFilter::default()
            };
            let rows = db.system(SystemTask::Jobs, |sys| {
                ledger::list_jobs(sys, &filter).map_err(findash_engine::EngineError::from)
            })?;
            for row in rows {
                if json {
                    println!("{}", serde_json::to_string(&row)?);
                } else {
                    println!(
                        "{}  {:<11} {:<10} {:<16} attempts {}/{}  {}",
                        row.id,
                        row.state,
                        row.queue,
                        row.kind,
                        row.attempts,
                        row.max_attempts,
                        row.last_error.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        JobsCommand::Show { id } => {
            let db = super::open_db(config)?;
            let found = db.system(SystemTask::Jobs, |sys| {
                ledger::get_job(sys, id).map_err(findash_engine::EngineError::from)
            })?;
            let Some((job, attempts)) = found else {
                bail!("no job {id}")
            };
            let mut value = serde_json::to_value(job)?;
            value["attempt_history"] = serde_json::to_value(attempts)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
        JobsCommand::Retry { id } => act(config, id, Action::Retry),
        JobsCommand::Cancel { id } => act(config, id, Action::Cancel),
        JobsCommand::Discard { id } => act(config, id, Action::Discard),
        JobsCommand::Stats { json: _ } => {
            let db = super::open_db(config)?;
            let stats = db.system(SystemTask::Jobs, |sys| {
                ledger::stats(sys).map_err(findash_engine::EngineError::from)
            })?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
    }
}

fn act(config: &Config, id: JobId, action: Action) -> anyhow::Result<()> {
    let result = super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        anyhow::Ok(engine.act(id, action).await?)
    })?;
    match result {
        ActionResult::Applied { state } => println!("{id} {state}"),
        ActionResult::CancelRequested => println!("{id} cancel requested (running)"),
        ActionResult::NotApplicable { state } => {
            bail!("cannot {} job {id}: it is {state}", action.as_str())
        }
        ActionResult::NotFound => bail!("no job {id}"),
    }
    Ok(())
}
