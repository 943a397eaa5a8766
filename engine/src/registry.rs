//! Job types registered by type: the table from a ledger row's `kind` to the code that runs it.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::context::JobContext;
use crate::error::EngineError;
use crate::job::{Job, JobError, JobResult};
use crate::ledger::NewJob;
use crate::queue::Queue;
use crate::retry::RetryPolicy;

type RunFn = fn(Value, JobContext) -> BoxFuture<'static, JobResult>;
type KeyFn = fn(&Value) -> Option<String>;
type BuildFn = fn(Value) -> Result<NewJob, EngineError>;

/// Everything the engine knows about one kind, taken from its [`Job`] impl.
#[derive(Clone, Copy)]
pub struct JobType {
    pub kind: &'static str,
    pub queue: Queue,
    pub max_attempts: u32,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub changes_dashboard: bool,
    run: RunFn,
    rate_limit_key: KeyFn,
    build: BuildFn,
}

impl std::fmt::Debug for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobType")
            .field("kind", &self.kind)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

fn run<J: Job>(payload: Value, ctx: JobContext) -> BoxFuture<'static, JobResult> {
    Box::pin(async move {
        let job: J = serde_json::from_value(payload).map_err(|e| {
            JobError::permanent(anyhow::anyhow!("payload does not match `{}`: {e}", J::KIND))
        })?;
        job.run(ctx).await
    })
}

fn rate_limit_key<J: Job>(payload: &Value) -> Option<String> {
    J::deserialize(payload)
        .ok()
        .and_then(|job| job.rate_limit_key())
}

fn build<J: Job>(payload: Value) -> Result<NewJob, EngineError> {
    let job: J = serde_json::from_value(payload).map_err(|e| EngineError::InvalidPayload {
        kind: J::KIND.to_owned(),
        message: e.to_string(),
    })?;
    NewJob::of(&job)
}

impl JobType {
    fn of<J: Job>() -> JobType {
        JobType {
            kind: J::KIND,
            queue: J::QUEUE,
            max_attempts: J::MAX_ATTEMPTS,
            timeout: J::TIMEOUT,
            retry: J::retry_policy(),
            changes_dashboard: J::CHANGES_DASHBOARD,
            run: run::<J>,
            rate_limit_key: rate_limit_key::<J>,
            build: build::<J>,
        }
    }

    pub(crate) fn run(&self, payload: Value, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        (self.run)(payload, ctx)
    }

    pub(crate) fn rate_limit_key(&self, payload: &Value) -> Option<String> {
        (self.rate_limit_key)(payload)
    }
}

/// The job types this process can run. Every role registers the same set (the binary's), so
/// the dispatcher knows which ledger rows no worker can take.
///
/// It also carries what the job types need and the engine knows nothing of (provider clients,
/// the credential sealer): values provided once by type, read by jobs through
/// [`JobContext::state`](crate::JobContext::state).
#[derive(Clone, Default)]
pub struct Registry {
    types: Arc<BTreeMap<&'static str, JobType>>,
    state: Arc<BTreeMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.types.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds `J`. Registering two types under one kind is a programming error caught at startup.
    #[must_use]
    pub fn register<J: Job>(mut self) -> Registry {
        let types = Arc::make_mut(&mut self.types);
        let previous = types.insert(J::KIND, JobType::of::<J>());
        assert!(
            previous.is_none(),
            "job kind `{}` registered twice",
            J::KIND
        );
        self
    }

    /// Makes `value` available to every job as `ctx.state::<T>()`; a second value of the same
    /// type replaces the first.
    #[must_use]
    pub fn provide<T: Send + Sync + 'static>(mut self, value: T) -> Registry {
        Arc::make_mut(&mut self.state).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// The value of type `T` given to [`Registry::provide`].
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
    }

    pub fn get(&self, kind: &str) -> Option<&JobType> {
        self.types.get(kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.keys().copied()
    }

    pub fn kinds_of(&self, queue: Queue) -> Vec<&'static str> {
        self.types
            .values()
            .filter(|t| t.queue == queue)
            .map(|t| t.kind)
            .collect()
    }

    /// A ledger row for `kind` from a JSON payload (CLI, API, workflow steps): the payload is
    /// checked against the type, so a typo fails now rather than in a worker.
    pub fn new_job(&self, kind: &str, payload: Value) -> Result<NewJob, EngineError> {
        let job_type = self
            .get(kind)
            .ok_or_else(|| EngineError::UnknownKind(kind.to_owned()))?;
        (job_type.build)(payload)
    }
}
