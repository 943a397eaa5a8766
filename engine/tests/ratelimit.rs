//! The rate limiter against a real Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`).
//! Every test works in its own namespace and deletes its keys, so tests run in parallel.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use findash_engine::ratelimit::{Decision, Quota, RateLimiter, RateLimits};
use prometheus::Registry;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

async fn connect() -> ConnectionManager {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL is not a valid Redis URL");
    tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
        .await
        .expect("Redis did not answer within 5s; these tests need a real Redis at REDIS_URL")
        .expect("cannot connect to Redis; these tests need a real Redis at REDIS_URL")
}

fn namespace() -> String {
    format!("test:{}", uuid::Uuid::new_v4())
}

fn quota(s: &str) -> Quota {
    Quota::parse(s).expect("test quota parses")
}

async fn keys_in(redis: &mut ConnectionManager, namespace: &str) -> Vec<String> {
    redis.keys(format!("{namespace}:*")).await.expect("KEYS")
}

async fn delete_namespace(redis: &mut ConnectionManager, namespace: &str) {
    let keys = keys_in(redis, namespace).await;
    if !keys.is_empty() {
        let _: () = redis.del(keys).await.expect("DEL");
    }
}

fn limiter(
    redis: ConnectionManager,
    namespace: &str,
    limits: RateLimits,
) -> (RateLimiter, Registry) {
    let registry = Registry::new();
    let limiter = RateLimiter::new(redis, namespace, limits, &registry).expect("metrics register");
    (limiter, registry)
}

#[test]
fn parse_accepts_the_documented_format() {
    let limits = RateLimits::parse("pluggy=10/1s, belvo = 600/1m:20").unwrap();
    let second = Duration::from_secs(1);
    assert_eq!(
        limits.get("pluggy:cred-123"),
        Some(Quota {
            rate: 10,
            period: second,
            burst: 10
        })
    );
    assert_eq!(
        limits.get("pluggy"),
        Some(Quota {
            rate: 10,
            period: second,
            burst: 10
        })
    );
    assert_eq!(
        limits.get("belvo:link-9:extra"),
        Some(Quota {
            rate: 600,
            period: Duration::from_secs(60),
            burst: 20
        })
    );
    assert_eq!(limits.get("stripe:acct"), None);
    assert_eq!(
        limits.get("plug:x"),
        None,
        "prefixes match whole, not by starts_with"
    );
    assert_eq!(quota("5/500ms").period, Duration::from_millis(500));

    assert_eq!(RateLimits::parse("").unwrap().get("pluggy:x"), None);
    assert_eq!(RateLimits::parse("  ").unwrap().get("pluggy:x"), None);
}

#[test]
fn parse_rejects_bad_entries_naming_them() {
    let err = |spec: &str| RateLimits::parse(spec).expect_err(spec);

    let e = err("pluggy=10/1s,belvo=0/1m");
    assert!(
        e.contains("entry 2") && e.contains("belvo=0/1m") && e.contains("rate must be at least 1"),
        "{e}"
    );

    let e = err("pluggy=10/1s:0");
    assert!(e.contains("burst must be at least 1"), "{e}");

    let e = err("pluggy=10/soon");
    assert!(
        e.contains("entry 1") && e.contains("period \"soon\""),
        "{e}"
    );

    let e = err("pluggy=10/0s");
    assert!(e.contains("period must be longer than zero"), "{e}");

    let e = err("pluggy=10/1s,belvo");
    assert!(
        e.contains("entry 2") && e.contains("\"belvo\"") && e.contains("PREFIX=RATE/PERIOD"),
        "{e}"
    );

    let e = err("pluggy=10/1s,pluggy=20/1s");
    assert!(e.contains("entry 2") && e.contains("listed twice"), "{e}");

    let e = err("pluggy=ten/1s");
    assert!(e.contains("rate \"ten\" is not a whole number"), "{e}");

    let e = err("pluggy=10");
    assert!(e.contains("RATE/PERIOD"), "{e}");

    let e = err("=10/1s");
    assert!(e.contains("prefix \"\""), "{e}");

    let e = err("pluggy=10/1s,");
    assert!(e.contains("entry 2"), "{e}");
}

#[tokio::test]
async fn burst_is_allowed_then_the_next_one_is_limited() {
    let mut redis = connect().await;
    let ns = namespace();
    let (limiter, _registry) = limiter(
        redis.clone(),
        &ns,
        RateLimits::default().with("pluggy", quota("5/1s:5")),
    );

    for n in 1..=5 {
        assert_eq!(
            limiter.acquire("pluggy:cred-1").await.unwrap(),
            Decision::Allowed,
            "acquire {n}"
        );
    }
    match limiter.acquire("pluggy:cred-1").await.unwrap() {
        Decision::Limited { retry_after } => {
            assert!(
                retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1),
                "{retry_after:?}"
            );
        }
        Decision::Allowed => panic!("the 6th acquire within the burst window was allowed"),
    }
    // Another key under the same prefix has its own bucket.
    assert_eq!(
        limiter.acquire("pluggy:cred-2").await.unwrap(),
        Decision::Allowed
    );

    delete_namespace(&mut redis, &ns).await;
}

#[tokio::test]
async fn redis_limits_when_another_replica_used_the_quota() {
    let mut redis = connect().await;
    let ns = namespace();
    let limits = RateLimits::default().with("pluggy", quota("5/1s:5"));
    let (first, _r1) = limiter(connect().await, &ns, limits.clone());
    let (second, _r2) = limiter(connect().await, &ns, limits);

    for _ in 0..5 {
        assert_eq!(
            first.acquire("pluggy:cred-1").await.unwrap(),
            Decision::Allowed
        );
    }
    // `second`'s in-process limiter is untouched, so this refusal can only come from Redis.
    match second.acquire("pluggy:cred-1").await.unwrap() {
        Decision::Limited { retry_after } => {
            assert!(
                retry_after > Duration::ZERO && retry_after <= Duration::from_millis(200),
                "{retry_after:?}"
            );
        }
        Decision::Allowed => panic!("the second replica ignored the shared bucket"),
    }
    let usage = second
        .usage("pluggy:cred-1")
        .await
        .unwrap()
        .expect("pluggy has a limit");
    assert_eq!(usage.available, 0);
    assert_eq!(usage.quota, quota("5/1s:5"));
    let fresh = second
        .usage("pluggy:cred-unused")
        .await
        .unwrap()
        .expect("pluggy has a limit");
    assert_eq!(fresh.available, 5);
    assert_eq!(second.usage("stripe:x").await.unwrap(), None);

    delete_namespace(&mut redis, &ns).await;
}

/// Two replicas (separate connections, separate in-process limiters) hammer one key for a
/// second. GCRA with rate 10/1s and burst 10 admits the burst at once and then one token every
/// 100ms, so over a span of `elapsed` it admits at most `10 + floor(elapsed / 100ms)`. Redis
/// stamps every decision with its own TIME, all inside our measured `elapsed`, so that bound
/// holds; +1 covers the two clocks' tick boundaries not lining up. Without the shared bucket the
/// two in-process limiters alone would admit about twice as many.
#[tokio::test]
async fn two_replicas_share_one_bucket() {
    let mut redis = connect().await;
    let ns = namespace();
    let limits = RateLimits::default().with("pluggy", quota("10/1s:10"));
    let (first, _r1) = limiter(connect().await, &ns, limits.clone());
    let (second, _r2) = limiter(connect().await, &ns, limits);

    let allowed = Arc::new(AtomicU32::new(0));
    let window = Duration::from_secs(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for replica in [first, second] {
        // Several callers per replica, as a worker pool would have.
        for _ in 0..4 {
            let (replica, allowed) = (replica.clone(), allowed.clone());
            tasks.push(tokio::spawn(async move {
                while start.elapsed() < window {
                    match replica.acquire("pluggy:cred-1").await.unwrap() {
                        Decision::Allowed => {
                            allowed.fetch_add(1, Ordering::SeqCst);
                        }
                        Decision::Limited { retry_after } => {
                            let left = window.saturating_sub(start.elapsed());
                            tokio::time::sleep(retry_after.min(left)).await;
                        }
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed();
    let allowed = allowed.load(Ordering::SeqCst);

    let refills = u32::try_from(elapsed.as_micros() / 100_000).unwrap();
    let most = 10 + refills + 1;
    assert!(
        allowed <= most,
        "{allowed} allowed in {elapsed:?}; the shared bucket admits at most {most}"
    );
    // Callers sleep exactly until the next token, so the refills are used, not just the burst:
    // allow each replica's wake-ups to miss a couple of tokens.
    let least = 10 + refills.saturating_sub(3);
    assert!(
        allowed >= least,
        "{allowed} allowed in {elapsed:?}; expected at least {least}"
    );

    delete_namespace(&mut redis, &ns).await;
}

#[tokio::test]
async fn a_key_without_a_limit_is_allowed_and_touches_no_redis_key() {
    let mut redis = connect().await;
    let ns = namespace();
    let (limiter, registry) = limiter(
        redis.clone(),
        &ns,
        RateLimits::default().with("pluggy", quota("1/1h")),
    );

    for _ in 0..20 {
        assert_eq!(
            limiter.acquire("stripe:acct-1").await.unwrap(),
            Decision::Allowed
        );
    }
    assert!(keys_in(&mut redis, &ns).await.is_empty());
    assert_eq!(
        decisions(&registry, "stripe", "allowed"),
        0.0,
        "unlimited prefixes make no series"
    );
}

#[tokio::test]
async fn a_bucket_expires_once_it_would_be_full_again() {
    let mut redis = connect().await;
    let ns = namespace();
    let (limiter, _registry) = limiter(
        redis.clone(),
        &ns,
        RateLimits::default().with("pluggy", quota("10/1m:10")),
    );

    assert_eq!(
        limiter.acquire("pluggy:cred-1").await.unwrap(),
        Decision::Allowed
    );
    let key = format!("{ns}:ratelimit:pluggy:cred-1");
    let index = format!("{ns}:ratelimit-index");
    let mut keys = keys_in(&mut redis, &ns).await;
    keys.sort();
    assert_eq!(keys, vec![index.clone(), key.clone()]);
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    // One token of 10/1m comes back after 6s, so the bucket is full (and forgettable) by then.
    assert!(pttl > 0 && pttl <= 6_000, "PTTL {pttl}");
    // Its entry in the index of buckets in use goes with it, and so does the index.
    let index_pttl: i64 = redis::cmd("PTTL")
        .arg(&index)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(index_pttl > 0 && index_pttl <= 6_000, "PTTL {index_pttl}");

    delete_namespace(&mut redis, &ns).await;
}

fn decisions(registry: &Registry, limit: &str, decision: &str) -> f64 {
    sample(
        registry,
        "findash_rate_limit_decisions_total",
        &[("limit", limit), ("decision", decision)],
    )
    .map_or(0.0, |m| m.get_counter().get_value())
}

fn sample(
    registry: &Registry,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<prometheus::proto::Metric> {
    let family = registry.gather().into_iter().find(|f| f.name() == name)?;
    family
        .get_metric()
        .iter()
        .find(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .cloned()
}

#[tokio::test]
async fn decisions_and_waits_are_counted_by_prefix() {
    let mut redis = connect().await;
    let ns = namespace();
    let (limiter, registry) = limiter(
        redis.clone(),
        &ns,
        RateLimits::default().with("pluggy", quota("2/1s")),
    );

    for _ in 0..5 {
        limiter.acquire("pluggy:cred-secret-42").await.unwrap();
    }
    assert_eq!(decisions(&registry, "pluggy", "allowed"), 2.0);
    assert_eq!(decisions(&registry, "pluggy", "limited"), 3.0);
    let wait = sample(
        &registry,
        "findash_rate_limit_wait_seconds",
        &[("limit", "pluggy")],
    )
    .expect("wait histogram");
    assert_eq!(wait.get_histogram().get_sample_count(), 3);
    assert!(wait.get_histogram().get_sample_sum() > 0.0);

    let exposed = format!("{:?}", registry.gather());
    assert!(
        !exposed.contains("cred-secret-42"),
        "a full key reached the metrics"
    );

    delete_namespace(&mut redis, &ns).await;
}

/// The console's listing: the buckets in use, read from the index the limiter keeps (never a
/// scan of the keyspace), at most a bound of them — those that stay in use longest — most used
/// first, each with when it is full again; reading them takes no token.
#[tokio::test]
async fn buckets_lists_the_keys_in_use_up_to_a_bound() {
    let mut redis = connect().await;
    let ns = namespace();
    let limits = RateLimits::default()
        .with("pluggy", quota("4/1h:4"))
        .with("belvo", quota("10/1s"));
    let (limiter, _r) = limiter(connect().await, &ns, limits);
    assert_eq!(
        limiter.limits(),
        vec![
            ("belvo".to_owned(), quota("10/1s")),
            ("pluggy".to_owned(), quota("4/1h:4"))
        ]
    );
    assert_eq!(limiter.buckets(10).await.unwrap().buckets, vec![]);

    for (key, n) in [("pluggy:a", 1), ("pluggy:b", 4), ("pluggy:c", 2)] {
        for _ in 0..n {
            assert_eq!(limiter.acquire(key).await.unwrap(), Decision::Allowed);
        }
    }
    // A key of another namespace is not ours; a key in ours that the limiter did not write is
    // not in its index, and the listing does not scan for keys.
    let _: () = redis
        .set(format!("{ns}-other:ratelimit:pluggy:z"), "1")
        .await
        .unwrap();
    let _: () = redis
        .set(format!("{ns}:ratelimit:pluggy:stray"), "1")
        .await
        .unwrap();

    let all = limiter.buckets(10).await.unwrap();
    assert!(!all.truncated);
    let listed: Vec<(&str, u32)> = all
        .buckets
        .iter()
        .map(|u| (u.key.as_str(), u.available))
        .collect();
    assert_eq!(listed, [("pluggy:b", 0), ("pluggy:c", 2), ("pluggy:a", 3)]);
    // One token back every 15 minutes: pluggy:c is full again in about 30 minutes.
    let full_in = all.buckets[1].full_in;
    assert!(
        full_in > Duration::from_secs(29 * 60) && full_in <= Duration::from_secs(30 * 60),
        "{full_in:?}"
    );
    assert_eq!(
        limiter.usage("pluggy:a").await.unwrap().unwrap().available,
        3
    );

    // Bounded: the buckets that stay in use longest (pluggy:b for an hour, pluggy:c for half).
    let some = limiter.buckets(2).await.unwrap();
    assert!(some.truncated);
    let keys: Vec<&str> = some.buckets.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["pluggy:b", "pluggy:c"]);

    // A bucket that refilled leaves the listing and the index.
    let index = format!("{ns}:ratelimit-index");
    let belvo = format!("{ns}:ratelimit:belvo:x");
    assert_eq!(limiter.acquire("belvo:x").await.unwrap(), Decision::Allowed);
    let score: Option<f64> = redis.zscore(&index, &belvo).await.unwrap();
    assert!(score.is_some(), "indexed while in use");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let later = limiter.buckets(10).await.unwrap();
    assert_eq!(later.buckets.len(), 3, "{:?}", later.buckets);
    assert!(!later.buckets.iter().any(|u| u.key == "belvo:x"));
    let score: Option<f64> = redis.zscore(&index, &belvo).await.unwrap();
    assert_eq!(score, None, "pruned once expired");
    let members: i64 = redis.zcard(&index).await.unwrap();
    assert_eq!(members, 3);

    let _: () = redis
        .del(format!("{ns}-other:ratelimit:pluggy:z"))
        .await
        .unwrap();
    delete_namespace(&mut redis, &ns).await;
}

/// The index of buckets in use stays as small as the buckets in use even when nobody reads it:
/// every write drops the entries of buckets that refilled.
#[tokio::test]
async fn the_index_forgets_refilled_buckets_without_being_read() {
    let mut redis = connect().await;
    let ns = namespace();
    let (limiter, _r) = limiter(
        connect().await,
        &ns,
        RateLimits::default().with("belvo", quota("10/1s")),
    );
    let index = format!("{ns}:ratelimit-index");
    for n in 0..20 {
        assert_eq!(
            limiter
                .acquire(&format!("belvo:one-off-{n}"))
                .await
                .unwrap(),
            Decision::Allowed
        );
    }
    let members: i64 = redis.zcard(&index).await.unwrap();
    assert_eq!(members, 20);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        limiter.acquire("belvo:latest").await.unwrap(),
        Decision::Allowed
    );
    let members: Vec<String> = redis.zrange(&index, 0, -1).await.unwrap();
    assert_eq!(members, vec![format!("{ns}:ratelimit:belvo:latest")]);

    delete_namespace(&mut redis, &ns).await;
}
