//! A per-tenant cache of expensive read models (the dashboard's aggregates) in Redis, which the
//! jobs that change a tenant's data invalidate.
//!
//! Invalidation is by generation: every tenant has a generation, and a cached entry is served
//! only while the generation still has the value it had when the entry's computation started. A
//! job (or request) that changed data sets a new generation after its transaction committed, so
//! an entry computed from the old data, even one written after that, is never served again. A
//! second, global generation does the same for data every tenant shares (exchange rates). New
//! generations are random, not incremented: a Redis restored from an older snapshot or failed
//! over to a lagging replica can never bring an old generation, and its entries, back to life.
//!
//! An entry is keyed by tenant and carries its tenant inside: it can never be served to another
//! tenant. Redis is an optimisation here: when it is slow or down, lookups miss at once and the
//! caller computes the answer itself.

use std::time::Duration;

use findash_schema::TenantId;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::transport::Namespace;

/// How long an entry lives at most: the bound on staleness if an invalidation is lost (Redis
/// unreachable at that moment).
pub const ENTRY_TTL: Duration = Duration::from_secs(300);

/// How long a cache call may take before it counts as a miss.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Largest entry stored; bigger answers are computed every time.
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// The tenant cache of one deployment (`REDIS_NAMESPACE`).
#[derive(Clone)]
pub struct TenantCache {
    redis: ConnectionManager,
    prefix: String,
}

/// Where a lookup left off: the bytes of a hit, or the generation to store a fresh answer under.
#[derive(Debug)]
pub enum Lookup {
    Hit(Vec<u8>),
    /// Compute the answer, then [`TenantCache::store`] it with this ticket.
    Miss(Ticket),
    /// Redis did not answer: compute the answer and do not store it.
    Unavailable,
}

/// The generations a miss saw, so the answer is stored under them.
#[derive(Debug)]
pub struct Ticket {
    key: String,
    stamp: String,
}

impl TenantCache {
    pub(crate) fn new(redis: ConnectionManager, ns: &Namespace) -> TenantCache {
        TenantCache {
            redis,
            prefix: format!("{}:cache", ns.as_str()),
        }
    }

    fn tenant_generation(&self, tenant: TenantId) -> String {
        format!("{}:gen:{tenant}", self.prefix)
    }

    fn global_generation(&self) -> String {
        format!("{}:gen:*", self.prefix)
    }

    /// The entry for `view` of `tenant` with `params` (any canonical text, e.g. a query string).
    pub async fn lookup(&self, tenant: TenantId, view: &str, params: &str) -> Lookup {
        let key = format!(
            "{}:{tenant}:{view}:{}",
            self.prefix,
            hex(&Sha256::digest(params.as_bytes()))
        );
        let mut pipe = redis::pipe();
        pipe.get(self.global_generation())
            .get(self.tenant_generation(tenant))
            .get(&key);
        let mut redis = self.redis.clone();
        let answer = tokio::time::timeout(
            REDIS_TIMEOUT,
            pipe.query_async::<(Option<String>, Option<String>, Option<Vec<u8>>)>(&mut redis),
        )
        .await;
        let (global, own, entry) = match answer {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cache lookup failed; answering uncached");
                return Lookup::Unavailable;
            }
            Err(_) => {
                tracing::debug!("cache lookup timed out; answering uncached");
                return Lookup::Unavailable;
            }
        };
        // Any value will do as a generation (operators may set one by hand); none is "0".
        let stamp = format!(
            "{}.{}.{tenant}\n",
            global.as_deref().unwrap_or("0"),
            own.as_deref().unwrap_or("0")
        );
        match entry {
            Some(bytes) if bytes.starts_with(stamp.as_bytes()) => {
                Lookup::Hit(bytes[stamp.len()..].to_vec())
            }
            _ => Lookup::Miss(Ticket { key, stamp }),
        }
    }

    /// Stores `body` for the lookup that issued `ticket`. Failures only cost a later miss.
    pub async fn store(&self, ticket: Ticket, body: &[u8]) {
        if body.len() > MAX_ENTRY_BYTES {
            return;
        }
        let mut value = Vec::with_capacity(ticket.stamp.len() + body.len());
        value.extend_from_slice(ticket.stamp.as_bytes());
        value.extend_from_slice(body);
        let mut redis = self.redis.clone();
        let mut set = redis::cmd("SET");
        set.arg(&ticket.key)
            .arg(value)
            .arg("EX")
            .arg(ENTRY_TTL.as_secs());
        match tokio::time::timeout(REDIS_TIMEOUT, set.query_async::<()>(&mut redis)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "cache store failed"),
            Err(_) => tracing::debug!("cache store timed out"),
        }
    }

    /// Drops every cached entry of `tenant`; call after the change committed.
    pub async fn invalidate(&self, tenant: TenantId) {
        self.bump(self.tenant_generation(tenant)).await;
    }

    /// Drops every cached entry of every tenant (shared data such as exchange rates changed).
    pub async fn invalidate_all(&self) {
        self.bump(self.global_generation()).await;
    }

    async fn bump(&self, generation: String) {
        let mut redis = self.redis.clone();
        let mut set = redis::cmd("SET");
        set.arg(&generation).arg(rand::random::<u64>());
        match tokio::time::timeout(REDIS_TIMEOUT, set.query_async::<()>(&mut redis)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                "cache invalidation failed; cached answers may be stale for up to {} s",
                ENTRY_TTL.as_secs()
            ),
            Err(_) => tracing::warn!(
                "cache invalidation timed out; cached answers may be stale for up to {} s",
                ENTRY_TTL.as_secs()
            ),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
