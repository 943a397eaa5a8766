//! Owns reporting cron runs to Sentry Crons: an `in_progress` check-in when a run starts, then `ok`
//! or `error` with the same `check_in_id` and the run's duration.
//!
//! sentry 0.49 has no check-in helper, so this module serialises the crate's own protocol types
//! into an envelope and POSTs it to the DSN's envelope endpoint itself: no global hub, http DSNs
//! work (tests point it at a local server), and each send is awaited with a short timeout.
//! Reporting is best effort: it never panics, never fails the run, and logs failures at warn.
//! It must never log the DSN or its key.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sentry::protocol::{
    Envelope, MonitorCheckIn, MonitorCheckInStatus, MonitorConfig, MonitorSchedule,
};
use sentry::types::Dsn;
use uuid::Uuid;

use super::Schedule;

/// Sent as `sentry_client`; the wire format is that of the sentry crate we depend on.
const SENTRY_CLIENT: &str = "sentry.rust/0.49.5";
/// Minutes after the expected time before Sentry counts a check-in as missed.
const CHECKIN_MARGIN_MINUTES: u64 = 5;
/// Minutes a run may stay `in_progress` before Sentry counts it as failed.
const MAX_RUNTIME_MINUTES: u64 = 30;
/// Upper bound on one check-in POST, so a slow Sentry never holds up a tick.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a [`CronMonitor`] could not be built. Never carries the DSN itself.
#[derive(Debug, thiserror::Error)]
pub enum CronMonitorError {
    #[error("SENTRY_DSN is not a valid Sentry DSN: {0}")]
    InvalidDsn(String),
    #[error("could not build the HTTP client for Sentry check-ins: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The status of one check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInStatus {
    InProgress,
    Ok,
    Error,
}

impl From<CheckInStatus> for MonitorCheckInStatus {
    fn from(status: CheckInStatus) -> Self {
        match status {
            CheckInStatus::InProgress => MonitorCheckInStatus::InProgress,
            CheckInStatus::Ok => MonitorCheckInStatus::Ok,
            CheckInStatus::Error => MonitorCheckInStatus::Error,
        }
    }
}

/// A started run, to be passed back to [`CronMonitor::finish`].
#[derive(Debug, Clone)]
pub struct CheckIn {
    /// Sent with both check-ins so Sentry pairs them.
    pub check_in_id: Uuid,
    /// The schedule name.
    pub monitor_slug: String,
    /// Kept so the final check-in upserts the same monitor config.
    expression: String,
    started: Instant,
}

/// Sends Sentry Crons check-ins, or nothing at all when no DSN is configured.
#[derive(Clone)]
pub struct CronMonitor {
    target: Option<Target>,
}

#[derive(Clone)]
struct Target {
    dsn: Dsn,
    environment: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for CronMonitor {
    /// Shows where check-ins go without the DSN's key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            None => f.write_str("CronMonitor(disabled)"),
            Some(t) => f
                .debug_struct("CronMonitor")
                .field("host", &t.dsn.host())
                .field("project_id", &t.dsn.project_id().to_string())
                .field("environment", &t.environment)
                .finish(),
        }
    }
}

impl CronMonitor {
    /// A monitor sending to `dsn` (`SENTRY_DSN`), tagging check-ins with `environment`.
    /// `None` gives a disabled monitor whose calls do nothing.
    pub fn new(dsn: Option<&str>, environment: &str) -> Result<Self, CronMonitorError> {
        let Some(dsn) = dsn else {
            return Ok(CronMonitor { target: None });
        };
        // The parse error names the broken part; it never echoes the DSN.
        let dsn =
            Dsn::from_str(dsn).map_err(|err| CronMonitorError::InvalidDsn(err.to_string()))?;
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(CronMonitor {
            target: Some(Target {
                dsn,
                environment: environment.to_owned(),
                http,
                timeout: DEFAULT_SEND_TIMEOUT,
            }),
        })
    }

    /// Caps each check-in POST at `timeout` instead of the default 5 seconds.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        if let Some(target) = &mut self.target {
            target.timeout = timeout;
        }
        self
    }

    /// Whether a DSN is configured.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `in_progress` and returns the check-in id to finish with.
    ///
    /// Returns None only when the monitor is disabled. A failed send still returns the check-in:
    /// Sentry accepts a final `ok`/`error` without a preceding `in_progress`.
    pub async fn start(&self, schedule: &Schedule) -> Option<CheckIn> {
        let target = self.target.as_ref()?;
        let check_in = CheckIn {
            check_in_id: Uuid::new_v4(),
            monitor_slug: schedule.name.clone(),
            expression: schedule.expression.clone(),
            started: Instant::now(),
        };
        target
            .send(&check_in, CheckInStatus::InProgress, None)
            .await;
        Some(check_in)
    }

    /// Sends `ok` (or `error` when `ok` is false) with the same `check_in_id` and the run's
    /// duration in seconds.
    pub async fn finish(&self, check_in: CheckIn, ok: bool) {
        let Some(target) = &self.target else {
            return;
        };
        let status = if ok {
            CheckInStatus::Ok
        } else {
            CheckInStatus::Error
        };
        let duration = check_in.started.elapsed().as_secs_f64();
        target.send(&check_in, status, Some(duration)).await;
    }
}

impl Target {
    async fn send(&self, check_in: &CheckIn, status: CheckInStatus, duration: Option<f64>) {
        let payload = MonitorCheckIn {
            check_in_id: check_in.check_in_id,
            monitor_slug: check_in.monitor_slug.clone(),
            status: status.into(),
            environment: Some(self.environment.clone()),
            duration,
            monitor_config: Some(MonitorConfig {
                // Built directly: `Schedule::new` already ran `MonitorSchedule::from_crontab`.
                schedule: MonitorSchedule::Crontab {
                    value: check_in.expression.clone(),
                },
                checkin_margin: Some(CHECKIN_MARGIN_MINUTES),
                max_runtime: Some(MAX_RUNTIME_MINUTES),
                timezone: Some("UTC".to_owned()),
                failure_issue_threshold: None,
                recovery_threshold: None,
            }),
        };
        if let Err(problem) = self.post(Envelope::from(payload)).await {
            tracing::warn!(
                monitor_slug = %check_in.monitor_slug,
                check_in_id = %check_in.check_in_id.simple(),
                ?status,
                %problem,
                "Sentry Crons check-in not delivered",
            );
        }
    }

    async fn post(&self, envelope: Envelope) -> Result<(), String> {
        let mut body = Vec::new();
        envelope
            .to_writer(&mut body)
            .map_err(|err| format!("serialising the envelope: {err}"))?;
        // `Auth`'s Display is `Sentry sentry_key=…, sentry_version=7, sentry_timestamp=…,
        // sentry_client=…`; it goes only into the header, never into a log line.
        let auth = self.dsn.to_auth(Some(SENTRY_CLIENT)).to_string();
        let response = self
            .http
            .post(self.dsn.envelope_api_url().as_str())
            .timeout(self.timeout)
            .header("X-Sentry-Auth", auth)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-sentry-envelope"),
            )
            .body(body)
            .send()
            .await
            .map_err(|err| err.without_url().to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            // Includes 429: check-ins are a few per hour, so honouring `Retry-After` by dropping
            // later ones would lose more than it saves.
            Err(format!("Sentry answered {status}"))
        }
    }
}
