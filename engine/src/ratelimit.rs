//! Rate limits per key that hold across every replica.
//!
//! Owns the limit table (`RATE_LIMITS`, one [`Quota`] per key prefix such as `pluggy`), the
//! decision for one request ([`RateLimiter::acquire`]), the bucket state in Redis (read for the
//! console with [`RateLimiter::usage`] and [`RateLimiter::buckets`]) and the
//! `findash_rate_limit_*` metrics.
//!
//! The truth is a GCRA bucket per key in Redis, updated by one atomic Lua script that reads
//! Redis's own clock, so replicas agree on both the count and the time. The same script keeps an
//! index of the buckets in use (`{namespace}:ratelimit-index`, a sorted set scored by each
//! bucket's expiry), so listing them never scans the keyspace. A `governor` limiter with
//! the same quota sits in front of it in each process: it turns away this process's own excess
//! without a Redis round trip, and because it only ever sees a subset of the traffic it can be
//! stricter than the global bucket but never looser.
//!
//! It never sleeps or retries on the caller's behalf (a limited job is rescheduled by the
//! runner, not parked on a worker), and it never puts a full key into metrics or info-level logs:
//! keys carry credential ids, so metrics are labelled by prefix only.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::DefaultKeyedRateLimiter;
use governor::clock::Clock;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use redis::aio::ConnectionManager;
use redis::{RedisError, Script};

/// One limit: `rate` requests per `period`, with bursts of up to `burst` at once.
///
/// [`Quota::parse`] rejects zeros; a hand-built quota with a zero rate, burst or period is
/// treated as 1 (one request, one microsecond) rather than panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub rate: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Quota {
    /// Parses `RATE/PERIOD[:BURST]`, e.g. `10/1s` or `600/1m:20`. The period is a humantime
    /// duration (`500ms`, `1s`, `1m`, `1h`); the burst defaults to the rate.
    pub fn parse(s: &str) -> Result<Quota, String> {
        let (rate_period, burst) = match s.split_once(':') {
            Some((rate_period, burst)) => (rate_period, Some(burst.trim())),
            None => (s, None),
        };
        let Some((rate, period)) = rate_period.split_once('/') else {
            return Err(format!(
                "quota {s:?} must look like RATE/PERIOD[:BURST], e.g. 10/1s or 600/1m:20"
            ));
        };
        let rate = parse_positive("rate", rate.trim())?;
        let period = humantime::parse_duration(period.trim()).map_err(|e| {
            format!(
                "period {:?} is not a duration like 1s or 1m: {e}",
                period.trim()
            )
        })?;
        if period.is_zero() {
            return Err("period must be longer than zero".to_owned());
        }
        let burst = match burst {
            Some(burst) => parse_positive("burst", burst)?,
            None => rate,
        };
        Ok(Quota {
            rate,
            period,
            burst,
        })
    }

    /// The time one request "costs": period / rate, rounded up to whole microseconds so rounding
    /// can only make the limit stricter, never looser.
    fn emission_interval_us(&self) -> u64 {
        let period_us = self.period.as_micros();
        let rate = u128::from(self.rate.max(1));
        let interval = period_us.div_ceil(rate).max(1);
        u64::try_from(interval).unwrap_or(u64::MAX)
    }

    fn burst_or_one(&self) -> u32 {
        self.burst.max(1)
    }

    /// The same quota for the in-process limiter.
    fn local(&self) -> governor::Quota {
        let interval = Duration::from_micros(self.emission_interval_us());
        let burst = NonZeroU32::new(self.burst_or_one()).unwrap_or(NonZeroU32::MIN);
        // `with_period` only refuses a zero interval, and the interval is at least 1µs.
        governor::Quota::with_period(interval)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

fn parse_positive(what: &str, s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err(format!("{what} must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{what} {s:?} is not a whole number")),
    }
}

/// Limits per key prefix: the part of a key before the first `:` (key `pluggy:cred-123` uses the
/// limit named `pluggy`; a key without `:` is its own prefix).
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    by_prefix: BTreeMap<String, Quota>,
}

impl RateLimits {
    /// Parses the `RATE_LIMITS` format: comma-separated `PREFIX=RATE/PERIOD[:BURST]` entries.
    ///
    /// ```text
    /// RATE_LIMITS="pluggy=10/1s,belvo=600/1m:20"
    /// ```
    ///
    /// - `PREFIX` is matched against the part of a key before its first `:`; keys for the
    ///   Pluggy API look like `pluggy:<credential id>`, so each credential gets its own bucket
    ///   under the `pluggy` quota. A prefix must be non-empty and contain no `:`, `=`, `,` or
    ///   spaces, and may appear only once.
    /// - `RATE/PERIOD` is how many requests per period, the period written as a humantime
    ///   duration: `500ms`, `1s`, `1m` (minute), `1h`.
    /// - `:BURST` (optional) is how many requests may go at once after a quiet spell; it
    ///   defaults to `RATE`. `600/1m:20` allows 600 a minute, spread out, at most 20 at once.
    /// - Keys whose prefix is not listed are not limited. An empty (or blank) value means no
    ///   limits at all.
    ///
    /// Limits hold across all replicas that share a Redis and a namespace. Errors name the bad
    /// entry, e.g. `entry 2 ("belvo=0/1m"): rate must be at least 1`.
    pub fn parse(spec: &str) -> Result<RateLimits, String> {
        let mut limits = RateLimits::default();
        if spec.trim().is_empty() {
            return Ok(limits);
        }
        for (index, entry) in spec.split(',').enumerate() {
            let entry = entry.trim();
            let at = |why: String| format!("entry {} ({entry:?}): {why}", index + 1);
            let Some((prefix, quota)) = entry.split_once('=') else {
                return Err(at(
                    "expected PREFIX=RATE/PERIOD[:BURST], e.g. pluggy=10/1s".to_owned()
                ));
            };
            let prefix = prefix.trim();
            if prefix.is_empty()
                || prefix.contains([':', '=', ','])
                || prefix.contains(char::is_whitespace)
            {
                return Err(at(format!(
                    "prefix {prefix:?} must be non-empty without ':', '=', ',' or spaces"
                )));
            }
            let quota = Quota::parse(quota.trim()).map_err(&at)?;
            if limits.by_prefix.insert(prefix.to_owned(), quota).is_some() {
                return Err(at(format!("prefix {prefix:?} is listed twice")));
            }
        }
        Ok(limits)
    }

    /// Adds or replaces the limit for `prefix`.
    #[must_use]
    pub fn with(mut self, prefix: &str, quota: Quota) -> Self {
        self.by_prefix.insert(prefix.to_owned(), quota);
        self
    }

    /// The quota that applies to `key`, if its prefix has one.
    pub fn get(&self, key: &str) -> Option<Quota> {
        self.by_prefix.get(prefix_of(key)).copied()
    }
}

/// The limit a key falls under: the part before its first `:` (the whole key without one).
pub fn prefix_of(key: &str) -> &str {
    key.split_once(':').map_or(key, |(prefix, _)| prefix)
}

/// What [`RateLimiter::acquire`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Try again no sooner than `retry_after` from now.
    Limited {
        retry_after: Duration,
    },
}

/// The state of one key's bucket, for the admin view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub key: String,
    /// Requests that would be allowed right now, approximately (it moves as time passes and as
    /// other replicas take tokens); at most `quota.burst`.
    pub available: u32,
    pub quota: Quota,
    /// How long until the bucket is full again (its Redis key expires then); zero when it is.
    pub full_in: Duration,
}

/// The buckets in Redis at one moment ([`RateLimiter::buckets`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketsInUse {
    /// Most used first (fewest requests available), then by key.
    pub buckets: Vec<Usage>,
    /// More buckets are in use than are listed.
    pub truncated: bool,
}

/// The cross-replica rate limiter; cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    redis: ConnectionManager,
    namespace: String,
    gcra: Script,
    /// Reads the index of the buckets in use (`ratelimit/buckets.lua`).
    in_use: Script,
    by_prefix: BTreeMap<String, PrefixLimit>,
}

/// One prefix's quota with its in-process limiter and metric series, built once so `acquire`
/// does no label lookups.
struct PrefixLimit {
    quota: Quota,
    local: DefaultKeyedRateLimiter<String>,
    allowed: IntCounter,
    limited: IntCounter,
    wait: Histogram,
}

/// The in-process limiter keeps one entry per key it has seen; past this many it drops the
/// entries that are back to full, so a stream of one-off keys cannot grow memory without bound.
const LOCAL_KEYS_BEFORE_SWEEP: usize = 10_000;

/// The script's answer: `{allowed (1|0), retry_after_us, available}`.
type ScriptReply = (i64, i64, i64);

/// Bucket states read per round trip.
const READ_PAGE: usize = 100;

impl RateLimiter {
    /// Builds the limiter and registers its metrics on `registry` (which therefore fails if a
    /// second limiter is registered on the same registry).
    ///
    /// `namespace` separates deployments and tests sharing one Redis: buckets live at
    /// `{namespace}:ratelimit:{key}`, their index at `{namespace}:ratelimit-index`.
    pub fn new(
        redis: ConnectionManager,
        namespace: &str,
        limits: RateLimits,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        let decisions = IntCounterVec::new(
            Opts::new(
                "findash_rate_limit_decisions_total",
                "Rate-limit decisions by limit (key prefix) and decision (allowed|limited)",
            ),
            &["limit", "decision"],
        )?;
        let wait = HistogramVec::new(
            HistogramOpts::new(
                "findash_rate_limit_wait_seconds",
                "Retry-after handed out with limited decisions, by limit (key prefix)",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                3600.0,
            ]),
            &["limit"],
        )?;
        registry.register(Box::new(decisions.clone()))?;
        registry.register(Box::new(wait.clone()))?;

        let by_prefix = limits
            .by_prefix
            .into_iter()
            .map(|(prefix, quota)| {
                let limit = PrefixLimit {
                    quota,
                    local: DefaultKeyedRateLimiter::keyed(quota.local()),
                    allowed: decisions.with_label_values(&[prefix.as_str(), "allowed"]),
                    limited: decisions.with_label_values(&[prefix.as_str(), "limited"]),
                    wait: wait.with_label_values(&[prefix.as_str()]),
                };
                (prefix, limit)
            })
            .collect();

        Ok(RateLimiter {
            inner: Arc::new(Inner {
                redis,
                namespace: namespace.to_owned(),
                gcra: Script::new(include_str!("ratelimit/gcra.lua")),
                in_use: Script::new(include_str!("ratelimit/buckets.lua")),
                by_prefix,
            }),
        })
    }

    /// Takes one token for `key`; a key whose prefix has no limit is always allowed (no Redis
    /// call).
    pub async fn acquire(&self, key: &str) -> Result<Decision, RedisError> {
        let prefix = prefix_of(key);
        let Some(limit) = self.inner.by_prefix.get(prefix) else {
            return Ok(Decision::Allowed);
        };

        let decision = match limit.check_local(key) {
            Some(retry_after) => {
                tracing::debug!(key, limit = prefix, ?retry_after, "rate limited in process");
                Decision::Limited { retry_after }
            }
            None => {
                let decision = self.check_redis(key, limit.quota, 1).await?.0;
                if let Decision::Limited { retry_after } = decision {
                    tracing::debug!(
                        key,
                        limit = prefix,
                        ?retry_after,
                        "rate limited across replicas"
                    );
                }
                decision
            }
        };
        limit.record(decision);
        Ok(decision)
    }

    /// Current state of `key`'s bucket in Redis (the cross-replica truth), without taking a
    /// token; `None` if its prefix has no limit.
    pub async fn usage(&self, key: &str) -> Result<Option<Usage>, RedisError> {
        Ok(self.read_buckets(vec![key.to_owned()]).await?.pop())
    }

    /// Every configured limit, by prefix: what `RATE_LIMITS` says, whether or not a bucket of it
    /// exists right now.
    pub fn limits(&self) -> Vec<(String, Quota)> {
        self.inner
            .by_prefix
            .iter()
            .map(|(prefix, limit)| (prefix.clone(), limit.quota))
            .collect()
    }

    /// The buckets in use now (a bucket exists only while it is not full: its key expires when
    /// it refills), read without taking a token: at most `max` of them, those that stay in use
    /// longest (the most recently or most heavily used), from the index the GCRA script keeps —
    /// never a scan of the keyspace. Reading drops from the index the buckets that expired. Keys
    /// of a prefix that no longer has a limit are left out.
    pub async fn buckets(&self, max: usize) -> Result<BucketsInUse, RedisError> {
        let mut redis = self.inner.redis.clone();
        let (in_use, listed): (u64, Vec<String>) = self
            .inner
            .in_use
            .key(self.index_key())
            .arg(max)
            .invoke_async(&mut redis)
            .await?;
        let prefix = self.bucket_key("");
        let keys: Vec<String> = listed
            .iter()
            .filter_map(|key| key.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        let mut buckets = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(READ_PAGE) {
            buckets.extend(self.read_buckets(chunk.to_vec()).await?);
        }
        // A bucket that expired since the index was read is full again: no longer in use.
        buckets.retain(|usage| !usage.full_in.is_zero());
        buckets.sort_by(|a, b| a.available.cmp(&b.available).then(a.key.cmp(&b.key)));
        Ok(BucketsInUse {
            buckets,
            truncated: in_use > u64::try_from(max).unwrap_or(u64::MAX),
        })
    }

    /// The state of `keys`' buckets in one round trip (the GCRA script reading, with each key's
    /// time to live); keys whose prefix has no limit are skipped.
    async fn read_buckets(&self, keys: Vec<String>) -> Result<Vec<Usage>, RedisError> {
        let limited: Vec<(String, Quota)> = keys
            .into_iter()
            .filter_map(|key| {
                let quota = self.inner.by_prefix.get(prefix_of(&key))?.quota;
                Some((key, quota))
            })
            .collect();
        if limited.is_empty() {
            return Ok(Vec::new());
        }
        let invocations: Vec<_> = limited
            .iter()
            .map(|(key, quota)| {
                let mut call = self.inner.gcra.prepare_invoke();
                call.key(self.bucket_key(key))
                    .key(self.index_key())
                    .arg(quota.emission_interval_us())
                    .arg(quota.burst_or_one())
                    .arg(0_u8);
                call
            })
            .collect();
        let mut pipe = redis::pipe();
        // A pipeline does not load the script by itself (a fresh Redis would answer NOSCRIPT).
        pipe.load_script(&self.inner.gcra).ignore();
        for ((key, _), call) in limited.iter().zip(&invocations) {
            pipe.invoke_script(call);
            pipe.pttl(self.bucket_key(key));
        }
        let mut redis = self.inner.redis.clone();
        let replies: Vec<redis::Value> = pipe.query_async(&mut redis).await?;
        let mut replies = replies.into_iter();
        let mut usages = Vec::with_capacity(limited.len());
        for (key, quota) in limited {
            let (Some(script), Some(ttl)) = (replies.next(), replies.next()) else {
                break;
            };
            let (_, _, available): ScriptReply = redis::from_redis_value(script)?;
            let ttl_ms: i64 = redis::from_redis_value(ttl)?;
            usages.push(Usage {
                key,
                available: u32::try_from(available.max(0)).unwrap_or(u32::MAX),
                quota,
                // -2: no key (a full bucket); -1 would be a key without expiry, which the
                // script never writes.
                full_in: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
            });
        }
        Ok(usages)
    }

    fn bucket_key(&self, key: &str) -> String {
        format!("{}:ratelimit:{key}", self.inner.namespace)
    }

    /// The sorted set of the bucket keys in use, scored by when each expires (ms since the epoch).
    fn index_key(&self) -> String {
        format!("{}:ratelimit-index", self.inner.namespace)
    }

    /// Runs the GCRA script; `cost` 1 takes a token, 0 only reads. Returns the decision and the
    /// tokens left afterwards.
    async fn check_redis(
        &self,
        key: &str,
        quota: Quota,
        cost: u8,
    ) -> Result<(Decision, u32), RedisError> {
        // ConnectionManager is a handle to one shared multiplexed connection; cloning is cheap.
        let mut redis = self.inner.redis.clone();
        let (allowed, retry_after_us, available): ScriptReply = self
            .inner
            .gcra
            .key(self.bucket_key(key))
            .key(self.index_key())
            .arg(quota.emission_interval_us())
            .arg(quota.burst_or_one())
            .arg(cost)
            .invoke_async(&mut redis)
            .await?;
        let decision = if allowed == 1 {
            Decision::Allowed
        } else {
            let micros = u64::try_from(retry_after_us).unwrap_or(0).max(1);
            Decision::Limited {
                retry_after: Duration::from_micros(micros),
            }
        };
        let available = u32::try_from(available.max(0)).unwrap_or(u32::MAX);
        Ok((decision, available))
    }
}

impl PrefixLimit {
    /// `Some(wait)` if this process alone has already used up the key's quota.
    ///
    /// The local limiter also counts attempts that Redis then refuses (governor cannot hand a
    /// token back). That only makes a contended process wait longer, by at most one emission
    /// interval, and spares Redis the retries: stricter, never looser.
    fn check_local(&self, key: &str) -> Option<Duration> {
        if self.local.len() > LOCAL_KEYS_BEFORE_SWEEP {
            self.local.retain_recent();
        }
        let not_until = self.local.check_key(&key.to_owned()).err()?;
        let wait = not_until.wait_time_from(self.local.clock().now());
        // A limited answer must carry a positive wait, or a caller could retry in a hot loop.
        Some(wait.max(Duration::from_micros(1)))
    }

    fn record(&self, decision: Decision) {
        match decision {
            Decision::Allowed => self.allowed.inc(),
            Decision::Limited { retry_after } => {
                self.limited.inc();
                self.wait.observe(retry_after.as_secs_f64());
            }
        }
    }
}
