//! The command line (a contract: see DESIGN.md "CLI").

use std::time::Duration;

use clap::{Parser, Subcommand};
use findash_schema::users::Role;

#[derive(Debug, Parser)]
#[command(
    name = "findash",
    version,
    about = "FinDash backend platform",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Development all-in-one: create the database if missing, migrate, seed the demo tenant.
    Up,
    /// Apply pending migrations under a PostgreSQL advisory lock.
    Migrate {
        /// List every migration and whether it is applied, and change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Give every tenant the default categories (idempotent).
    Seed {
        /// Also create the demo tenant, its sandbox connections and its admin user.
        #[arg(long)]
        demo: bool,
    },
    /// Mint an API bearer token (HS256 JWT) for a tenant's user.
    Token {
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        /// The token's role; the user must hold it.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Lifetime, e.g. 30m, 1h, 7d (at most 365d).
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// The user (email or id); default: the tenant's oldest user holding the role.
        #[arg(long)]
        user: Option<String>,
    },
    /// Validate the environment, print every problem at once, exit non-zero on any.
    CheckConfig,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}
