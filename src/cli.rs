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
    /// Run worker pools: claim and run jobs until SIGTERM/SIGINT, then finish in-flight jobs
    /// (up to WORKER_SHUTDOWN_TIMEOUT) and release the rest.
    Worker {
        /// Comma-separated queues (sync, rates, forecast, dq, email, webhooks, default); all by
        /// default.
        #[arg(long, value_delimiter = ',')]
        queues: Vec<findash_engine::Queue>,
        /// Concurrent jobs per queue (default: each queue's own).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        concurrency: Option<u16>,
    },
    /// Run the scheduler: dispatcher, reconciler, cron. Safe to run on several replicas.
    Scheduler,
    /// Run the HTTP server (BIND_ADDR) until SIGTERM/SIGINT, then drain in-flight requests.
    Web,
    /// Enqueue a job (or --count of them in one bulk insert) and print the id(s).
    Enqueue {
        /// The job kind, e.g. `noop`.
        kind: String,
        /// Tenant slug or id; without it the job is a system job.
        #[arg(long)]
        tenant: Option<String>,
        /// The payload (JSON object).
        #[arg(long, default_value = "{}")]
        json: String,
        /// Idempotency key: enqueueing the same kind and key again returns the existing job.
        #[arg(long)]
        key: Option<String>,
        /// How many jobs to enqueue in one statement (without --key).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
        /// Do not run before this long from now (e.g. `30s`).
        #[arg(long, value_parser = humantime::parse_duration)]
        delay: Option<Duration>,
    },
    /// Operate on the job ledger.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Bank connections of a tenant.
    Connections {
        #[command(subcommand)]
        command: ConnectionsCommand,
    },
    /// Provider credentials at rest.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Payment provider accounts: which tenant a Stripe or Mercado Pago event belongs to.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// The webhook inbox.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Link a provider account to a tenant (again: replace its access token). Its events are
    /// that tenant's from then on; replay earlier ones to bring them in.
    Link {
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        /// stripe or mercadopago.
        #[arg(long)]
        provider: findash_schema::webhooks::PaymentProvider,
        /// Stripe: the connected account (`acct_…`), or `platform` for the platform account's
        /// own events. Mercado Pago: the seller's user id.
        #[arg(long)]
        account: String,
        /// Mercado Pago: a file holding the seller's access token (`-`: stdin), which reads the
        /// payments its notifications name.
        #[arg(long)]
        access_token: Option<std::path::PathBuf>,
    },
    /// Every linked account.
    List,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Process stored deliveries again from their stored bodies: one by id, or every delivery
    /// matching the filters (e.g. `--status failed` after a fix).
    Replay {
        /// One delivery.
        id: Option<findash_schema::WebhookId>,
        /// stripe, qstash or mercadopago.
        #[arg(long, conflicts_with = "id")]
        provider: Option<findash_schema::webhooks::WebhookProvider>,
        /// received, processing, processed, ignored or failed.
        #[arg(long, conflicts_with = "id")]
        status: Option<findash_schema::webhooks::InboxStatus>,
        /// Only deliveries whose job ended (dead, cancelled, quarantined) while they were still
        /// `received` or `processing`.
        #[arg(long, conflicts_with = "id")]
        stuck: bool,
        /// Only deliveries received within this long (e.g. `24h`).
        #[arg(long, conflicts_with = "id", value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        /// At most this many deliveries.
        #[arg(long, conflicts_with = "id", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Add a connection and print its id.
    Add {
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        /// sandbox, belvo, pluggy or openfinance.
        #[arg(long)]
        provider: findash_schema::connections::Provider,
        /// The provider's handle: Belvo link id, Pluggy item id, Open Finance consent id, or a
        /// sandbox name.
        #[arg(long)]
        external_id: String,
        /// What the dashboard calls it.
        #[arg(long)]
        name: String,
        /// Non-secret settings (JSON object), e.g. the sandbox's `{"seed": 1}`.
        #[arg(long, default_value = "{}")]
        settings: String,
        /// A file holding the connection's credentials as a JSON object (`-`: stdin), e.g.
        /// `{"access_token": "..."}` for Open Finance Brasil.
        #[arg(long)]
        credentials: Option<std::path::PathBuf>,
    },
    /// Replace a connection's credentials (a file, or `-` for stdin).
    SetCredentials {
        #[arg(long)]
        tenant: String,
        id: findash_schema::ConnectionId,
        #[arg(long)]
        credentials: std::path::PathBuf,
    },
    /// A tenant's connections and their sync status.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Re-seal every connection's credentials with ENCRYPTION_KEY (after a key rotation).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job with its attempts, as JSON.
    Show { id: findash_schema::JobId },
    /// Run a dead, cancelled or quarantined job again now.
    Retry { id: findash_schema::JobId },
    /// Cancel a queued, retrying or running job.
    Cancel { id: findash_schema::JobId },
    /// Delete a dead, cancelled or quarantined job and its history.
    Discard { id: findash_schema::JobId },
    /// Counts by state, kind and queue.
    Stats {
        /// `{"total": N, "by_state": {..}, "by_kind": {..}, "by_queue": {..}}` (the default
        /// output; the flag is accepted for scripts that say so).
        #[arg(long)]
        json: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}
