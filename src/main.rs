//! `findash`: the one binary of the FinDash platform. Parses the configuration once, hands each
//! crate its section, and runs the role or operator command asked for.

mod cli;
mod commands;
mod config;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{
    Cli, Command, ConnectionsCommand, CredentialsCommand, PaymentsCommand, WebhooksCommand,
};
use crate::config::{Config, Environment};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: cannot read the working directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = Config::load(&dir);
    if let Command::CheckConfig = cli.command {
        return match commands::check_config::run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(problems) => {
                eprint!("{problems}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match config {
        Ok(config) => config,
        Err(problems) => {
            eprint!("{problems}");
            eprintln!("run `findash check-config` after fixing them");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.env);
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    match run(cli.command, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, config: &Config) -> anyhow::Result<()> {
    match command {
        Command::Up => commands::up::run(config),
        Command::Migrate { status } => commands::migrate::run(config, status),
        Command::Seed { demo } => commands::seed::run(config, demo),
        Command::Token {
            tenant,
            role,
            ttl,
            user,
        } => commands::token::run(config, &tenant, role, ttl, user.as_deref()),
        Command::CheckConfig => unreachable!("handled before the configuration is required"),
        Command::Worker {
            queues,
            concurrency,
        } => commands::worker::run(config, queues, concurrency.map(usize::from)),
        Command::Scheduler => commands::scheduler::run(config),
        Command::Web => commands::web::run(config),
        Command::Enqueue {
            kind,
            tenant,
            json,
            key,
            count,
            delay,
        } => commands::enqueue::run(config, &kind, tenant.as_deref(), &json, key, count, delay),
        Command::Jobs { command } => commands::jobs::run(config, command),
        Command::Connections { command } => match command {
            ConnectionsCommand::Add {
                tenant,
                provider,
                external_id,
                name,
                settings,
                credentials,
            } => commands::connections::add(
                config,
                &tenant,
                provider,
                &external_id,
                &name,
                &settings,
                credentials.as_deref(),
            ),
            ConnectionsCommand::SetCredentials {
                tenant,
                id,
                credentials,
            } => commands::connections::set_credentials(config, &tenant, id, &credentials),
            ConnectionsCommand::List { tenant } => commands::connections::list(config, &tenant),
        },
        Command::Credentials {
            command: CredentialsCommand::Rotate,
        } => commands::connections::rotate(config),
        Command::Payments { command } => match command {
            PaymentsCommand::Link {
                tenant,
                provider,
                account,
                access_token,
            } => commands::webhooks::link(
                config,
                &tenant,
                provider,
                &account,
                access_token.as_deref(),
            ),
            PaymentsCommand::List => commands::webhooks::list_accounts(config),
        },
        Command::Webhooks {
            command:
                WebhooksCommand::Replay {
                    id,
                    provider,
                    status,
                    stuck,
                    since,
                    limit,
                },
        } => commands::webhooks::replay(config, id, provider, status, stuck, since, limit),
    }
}

/// Logs go to stderr: human-readable on a laptop, JSON where a collector reads them.
fn init_tracing(env: Environment) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if env.is_deployed() {
        builder.json().init();
    } else {
        builder.init();
    }
}
