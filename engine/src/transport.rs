//! Redis as a bounded transport: apalis-redis queues that carry job ids (never payloads), the
//! wake-up channels that keep idle latency low, and the clean-up apalis does not do.
//!
//! Nothing here decides whether a job runs: the ledger does. Redis can be flushed at any time;
//! the reconciler notices and re-dispatches from PostgreSQL.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId};
use apalis_redis::{Config, RedisTask};
use chrono::{DateTime, Utc};
use findash_schema::JobId;
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::queue::Queue;

/// What travels through Redis: the ledger id of the job to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dispatch {
    pub id: JobId,
}

/// Key and channel names of one deployment (`REDIS_NAMESPACE`).
#[derive(Debug, Clone)]
pub struct Namespace(String);

impl Namespace {
    pub fn new(prefix: &str) -> Namespace {
        Namespace(prefix.to_owned())
    }

    /// The prefix every key and channel name starts with.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// apalis-redis configuration of `queue`'s Redis queue.
    pub fn apalis_config(&self, queue: Queue) -> Config {
        Config::default()
            .queue(format!("{}:q:{}", self.0, queue.as_str()))
            // One fetch takes up to 100 due tasks: apalis's measured sweet spot.
            .batch_size(100)
            // A dead worker's in-flight tasks return to the list after 5 s × 6; the ledger's
            // lease (longer) decides whether the job itself runs again.
            .heartbeat_interval(Duration::from_secs(5))
            .missed_heartbeats(6)
            // The ledger holds leases and events; apalis's would only cost Redis round trips.
            .lock_tasks(false)
            // This is apalis's acknowledgement switch: without it a finished task never leaves
            // the worker's in-flight set. The result it stores is `null`; the sweep deletes it.
            .persist_results(true)
            .emit_events(false)
    }

    /// Channel a worker pool listens on: published after jobs are pushed to `queue`.
    pub fn worker_wake(&self, queue: Queue) -> String {
        format!("{}:wake:{}", self.0, queue.as_str())
    }

    /// Channel dispatchers listen on: published after enqueues and completions.
    pub fn dispatch_wake(&self) -> String {
        format!("{}:dispatch", self.0)
    }
}

/// A Redis task for `job` under `token`, due at `run_at`. Every dispatch has a fresh token, so
/// cleaning up an old task can never touch a newer dispatch of the same job.
pub fn task_with_token(
    job: JobId,
    token: &str,
    run_at: DateTime<Utc>,
) -> Result<RedisTask, serde_json::Error> {
    let data = serde_json::to_vec(&Dispatch { id: job })?;
    let run_at = u64::try_from(run_at.timestamp()).unwrap_or_default();
    Ok(TaskBuilder::new(data)
        .task_id(TaskId::from_string(token))
        .run_at_timestamp(run_at)
        .max_attempts(1)
        .build())
}

/// Pushes `tasks` to `queue` in one script call and wakes its workers.
pub async fn push(
    redis: &mut ConnectionManager,
    ns: &Namespace,
    queue: Queue,
    tasks: &[RedisTask],
) -> Result<(), apalis_redis::Error> {
    if tasks.is_empty() {
        return Ok(());
    }
    apalis_redis::queries::push_tasks(redis, &ns.apalis_config(queue), tasks).await?;
    let _: () = redis.publish(ns.worker_wake(queue), 1).await?;
    Ok(())
}

/// Which of `tokens` Redis still holds for `queue` (waiting, scheduled or in flight).
pub async fn held(
    redis: &mut ConnectionManager,
    ns: &Namespace,
    queue: Queue,
    tokens: &[String],
) -> Result<Vec<bool>, redis::RedisError> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let config = ns.apalis_config(queue);
    let mut pipe = redis::pipe();
    for token in tokens {
        pipe.hexists(config.job_data_hash(), token);
    }
    pipe.query_async(redis).await
}

/// Deletes the data of tasks apalis has finished (its done and dead sets), which apalis-redis
/// keeps forever. Bounded per call.
pub async fn sweep_finished(
    redis: &mut ConnectionManager,
    ns: &Namespace,
    queue: Queue,
) -> Result<u64, redis::RedisError> {
    let config = ns.apalis_config(queue);
    SWEEP
        .key(config.done_jobs_set())
        .key(config.dead_jobs_set())
        .key(config.job_data_hash())
        .key(config.job_meta_hash())
        .arg(5000)
        .invoke_async(redis)
        .await
}

static SWEEP: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local removed = 0
        for s = 1, 2 do
            local ids = redis.call('SPOP', KEYS[s], ARGV[1])
            for _, id in ipairs(ids) do
                redis.call('HDEL', KEYS[3], id)
                redis.call('DEL', KEYS[4] .. ':' .. id)
                removed = removed + 1
            end
        end
        return removed
        ",
    )
});

/// A stream that yields whenever something is published on `channel`; used to wake idle apalis
/// workers at once instead of on their next poll. Messages are hints: a lost one only costs a
/// poll interval.
pub fn wake_stream(client: redis::Client, channel: String) -> futures::channel::mpsc::Receiver<()> {
    let (mut tx, rx) = futures::channel::mpsc::channel(1);
    subscribe(client, channel, move |_| {
        // Full means a wake-up is already pending: that is enough.
        !matches!(tx.try_send(()), Err(e) if e.is_disconnected())
    });
    rx
}

/// Calls `on_message` with the payload of everything published on `channel`, and with an empty
/// payload whenever a subscription starts or is lost (messages may have been missed before or
/// meanwhile), until it returns false. Reconnects after errors.
pub fn subscribe(
    client: redis::Client,
    channel: String,
    mut on_message: impl FnMut(&[u8]) -> bool + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if let Err(e) = pubsub.subscribe(&channel).await {
                        tracing::warn!(error = %e, "wake channel subscribe failed");
                    } else if on_message(&[]) {
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            if !on_message(message.get_payload_bytes()) {
                                return;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "wake channel connection failed"),
            }
            if !on_message(&[]) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
