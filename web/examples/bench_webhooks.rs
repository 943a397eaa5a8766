//! The HTTP client of `ops/bench/webhooks`: N distinct signed Stripe `charge.succeeded` events
//! sent to a running `findash web` over keep-alive connections, C at a time; then the same N
//! again (every one a duplicate). The baseline is `GET /healthz` from the same client at the same
//! concurrency, measured first.
//!
//! Every answer is checked: `/healthz` 200; a new event 200 with `"duplicate": false` and a
//! delivery id of its own; its resend 200 with `"duplicate": true` and the same delivery id. Any
//! other answer fails the run (exit 1) after the pass, with the first few of them on stderr.
//!
//! The server and its database are `ops/bench/webhooks/run`'s: this program only sends. The
//! receiver's secret is `STRIPE_WEBHOOK_SECRET`; the server's address `--url` (or `BENCH_URL`).
//! Prints a table on stderr and one JSON line on stdout.
//!
//! Usage: `bench_webhooks [--events N] [--concurrency C] [--healthz N] [--account acct_…]
//! [--url http://127.0.0.1:8080]`

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use findash_web::webhooks::signatures::stripe;
use secrecy::SecretString;
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What Stripe's own deliveries say they are (kept with each stored delivery).
const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";
/// Answers shown when a pass fails.
const ERRORS_SHOWN: usize = 5;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn count_arg(name: &str, default: usize) -> Result<usize, BoxError> {
    match arg(name) {
        None => Ok(default),
        Some(value) => match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, not `{value}`").into()),
        },
    }
}

/// Seconds since the epoch: each delivery is signed when it is sent, as Stripe does.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Event `i`: a Stripe `charge.succeeded` of the connected account `account`, shaped like a real
/// one (the charge object with its billing details, outcome and card), ids unique per event.
fn event(i: usize, account: &str, created: i64) -> String {
    let amount = 1_000 + (i % 9_000) as i64;
    let billing = json!({
        "address": {"city": "São Paulo", "country": "BR", "line1": "Avenida Paulista 1000",
                    "line2": null, "postal_code": "01310-100", "state": "SP"},
        "email": format!("customer{i}@example.com"),
        "name": "Maria Silva",
        "phone": null,
    });
    let outcome = json!({
        "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
        "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized",
    });
    let card = json!({
        "brand": "visa",
        "checks": {"address_line1_check": "pass", "address_postal_code_check": "pass",
                   "cvc_check": "pass"},
        "country": "BR", "exp_month": 12, "exp_year": 2030, "fingerprint": "Xt5EWLLDS7FJjR1c",
        "funding": "credit", "installments": null, "last4": "4242", "network": "visa",
        "three_d_secure": null, "wallet": null,
    });
    let charge = json!({
        "id": format!("ch_bench_{i:010}"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application_fee_amount": null,
        "balance_transaction": format!("txn_bench_{i:010}"),
        "billing_details": billing,
        "calculated_statement_descriptor": "FINDASH BENCH",
        "captured": true,
        "created": created,
        "currency": "brl",
        "customer": format!("cus_bench_{:06}", i % 100_000),
        "description": "Subscription update",
        "disputed": false,
        "failure_code": null,
        "failure_message": null,
        "livemode": false,
        "metadata": {"order_id": format!("order-{i}")},
        "outcome": outcome,
        "paid": true,
        "payment_intent": format!("pi_bench_{i:010}"),
        "payment_method": format!("pm_bench_{i:010}"),
        "payment_method_details": {"card": card, "type": "card"},
        "receipt_email": null,
        "receipt_url": format!("https://pay.stripe.com/receipts/bench/{i}"),
        "refunded": false,
        "status": "succeeded",
    });
    json!({
        "id": format!("evt_bench_{i:010}"),
        "object": "event",
        "account": account,
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": {"object": charge},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": format!("req_bench_{i:010}"), "idempotency_key": null},
        "type": "charge.succeeded",
    })
    .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `GET /healthz`: 200.
    Healthz,
    /// A new event: 200, `"duplicate": false`.
    Fresh,
    /// An event sent before: 200, `"duplicate": true`.
    Duplicate,
}

/// What one task of a pass saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    /// (event index, delivery id) of each webhook answer.
    deliveries: Vec<(usize, String)>,
    failures: usize,
    errors: Vec<String>,
}

/// A finished pass.
struct Pass {
    requests: usize,
    seconds: f64,
    /// Sorted.
    latencies_ms: Vec<f64>,
    /// Delivery id of each event, by index (webhook passes).
    deliveries: Vec<String>,
}

impl Pass {
    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// Nearest-rank percentile in milliseconds.
    fn percentile(&self, p: f64) -> f64 {
        let n = self.latencies_ms.len();
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_ms.get(rank - 1).copied().unwrap_or(f64::NAN)
    }
}

struct Target {
    client: reqwest::Client,
    healthz: String,
    stripe: String,
    secret: SecretString,
    events: &'static [String],
}

/// Checks one answer; returns the delivery id of a webhook answer.
fn check(expect: Expect, status: reqwest::StatusCode, body: &[u8]) -> Result<String, String> {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(300)
            .collect::<String>()
    };
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", text()));
    }
    if expect == Expect::Healthz {
        return Ok(String::new());
    }
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {}", text()))?;
    let duplicate = expect == Expect::Duplicate;
    if answer["received"] != true || answer["duplicate"] != duplicate {
        return Err(format!(
            "expected \"received\": true, \"duplicate\": {duplicate}, got {}",
            text()
        ));
    }
    answer["delivery_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no delivery_id: {}", text()))
}

/// Sends `requests` requests (`/healthz`, or events 0..requests), `concurrency` at a time, each
/// task on a keep-alive connection of the client's pool; the clock runs from the first send to
/// the last answer.
async fn pass(
    target: &Arc<Target>,
    expect: Expect,
    requests: usize,
    concurrency: usize,
) -> Result<Pass, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (target, next) = (Arc::clone(target), Arc::clone(&next));
            tokio::spawn(async move {
                let mut seen = Seen::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return seen;
                    }
                    let request = match expect {
                        Expect::Healthz => target.client.get(&target.healthz),
                        Expect::Fresh | Expect::Duplicate => {
                            let body: &'static str = &target.events[i];
                            let signature = stripe::sign(body.as_bytes(), &target.secret, now());
                            target
                                .client
                                .post(&target.stripe)
                                .header("content-type", "application/json; charset=utf-8")
                                .header("user-agent", USER_AGENT)
                                .header("stripe-signature", signature)
                                .body(body)
                        }
                    };
                    let sent = Instant::now();
                    let answer = match request.send().await {
                        Ok(res) => {
                            let status = res.status();
                            res.bytes().await.map(|body| (status, body))
                        }
                        Err(e) => Err(e),
                    };
                    seen.latencies_us.push(sent.elapsed().as_micros() as u64);
                    let verdict = match answer {
                        Ok((status, body)) => check(expect, status, &body),
                        Err(e) => Err(format!("request failed: {e}")),
                    };
                    match verdict {
                        Ok(delivery) if expect != Expect::Healthz => {
                            seen.deliveries.push((i, delivery));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            seen.failures += 1;
                            if seen.errors.len() < ERRORS_SHOWN {
                                seen.errors.push(format!("request {i}: {e}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let mut all = Seen::default();
    for task in tasks {
        let seen = task.await?;
        all.latencies_us.extend(seen.latencies_us);
        all.deliveries.extend(seen.deliveries);
        all.failures += seen.failures;
        all.errors.extend(seen.errors);
    }
    let seconds = started.elapsed().as_secs_f64();
    if all.failures > 0 {
        for e in all.errors.iter().take(ERRORS_SHOWN) {
            eprintln!("bench: {e}");
        }
        return Err(format!("{expect:?}: {} of {requests} requests failed", all.failures).into());
    }
    let mut latencies_ms: Vec<f64> = all
        .latencies_us
        .iter()
        .map(|&us| us as f64 / 1_000.0)
        .collect();
    latencies_ms.sort_by(f64::total_cmp);
    all.deliveries.sort_unstable_by_key(|(i, _)| *i);
    Ok(Pass {
        requests,
        seconds,
        latencies_ms,
        deliveries: all.deliveries.into_iter().map(|(_, id)| id).collect(),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let events = count_arg("--events", 20_000)?;
    let concurrency = count_arg("--concurrency", 64)?;
    let healthz_requests = count_arg("--healthz", 200_000)?;
    let account = arg("--account").unwrap_or_else(|| "acct_bench".to_owned());
    let base = arg("--url")
        .or_else(|| std::env::var("BENCH_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let base = base.trim_end_matches('/');
    let secret = std::env::var("STRIPE_WEBHOOK_SECRET")
        .map_err(|_| "STRIPE_WEBHOOK_SECRET must hold the receiver's secret")?;

    findash_engine::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let created = now();
    let bodies: Vec<String> = (0..events).map(|i| event(i, &account, created)).collect();
    let body_bytes = bodies.iter().map(String::len).sum::<usize>() / events;
    let target = Arc::new(Target {
        client,
        healthz: format!("{base}/healthz"),
        stripe: format!("{base}/webhooks/stripe"),
        secret: SecretString::from(secret),
        // Sent as they are, twice, for the life of the process.
        events: Vec::leak(bodies),
    });

    // Opens the connections and warms both sides up; not measured.
    pass(&target, Expect::Healthz, concurrency * 50, concurrency).await?;
    eprintln!("bench: /healthz baseline, {healthz_requests} requests, {concurrency} at a time");
    let healthz = pass(&target, Expect::Healthz, healthz_requests, concurrency).await?;
    eprintln!(
        "bench: {events} new Stripe events (~{body_bytes} bytes each), {concurrency} at a time"
    );
    let accepted = pass(&target, Expect::Fresh, events, concurrency).await?;
    let distinct: HashSet<&String> = accepted.deliveries.iter().collect();
    if distinct.len() != events {
        return Err(format!(
            "{events} new events were stored as {} distinct deliveries",
            distinct.len()
        )
        .into());
    }
    eprintln!("bench: the same {events} events again (duplicates)");
    let duplicates = pass(&target, Expect::Duplicate, events, concurrency).await?;
    if duplicates.deliveries != accepted.deliveries {
        return Err("a duplicate answered with another delivery than its first delivery".into());
    }

    let base_rate = healthz.per_sec();
    eprintln!();
    eprintln!(
        "Webhook receiver: {events} Stripe events, {concurrency} concurrent keep-alive connections"
    );
    eprintln!();
    eprintln!("| requests | count | seconds | per s | vs /healthz | p50 ms | p99 ms |");
    eprintln!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, p) in [
        ("GET /healthz (baseline)", &healthz),
        ("Stripe events, new (accepted)", &accepted),
        ("Stripe events, again (duplicates)", &duplicates),
    ] {
        eprintln!(
            "| {name} | {} | {:.2} | {:.0} | {:.3}x | {:.2} | {:.2} |",
            p.requests,
            p.seconds,
            p.per_sec(),
            p.per_sec() / base_rate,
            p.percentile(0.50),
            p.percentile(0.99)
        );
    }
    eprintln!();
    println!(
        "{}",
        json!({
            "bench": "webhooks",
            "events": events,
            "concurrency": concurrency,
            "body_bytes": body_bytes,
            "healthz_requests": healthz.requests,
            "healthz_seconds": healthz.seconds,
            "healthz_per_sec": base_rate,
            "healthz_p50_ms": healthz.percentile(0.50),
            "healthz_p99_ms": healthz.percentile(0.99),
            "accepted_seconds": accepted.seconds,
            "accepted_per_sec": accepted.per_sec(),
            "accepted_p50_ms": accepted.percentile(0.50),
            "accepted_p99_ms": accepted.percentile(0.99),
            "duplicates_seconds": duplicates.seconds,
            "duplicates_per_sec": duplicates.per_sec(),
            "duplicates_p50_ms": duplicates.percentile(0.50),
            "duplicates_p99_ms": duplicates.percentile(0.99),
            "accepted_vs_healthz": accepted.per_sec() / base_rate,
            "duplicates_vs_healthz": duplicates.per_sec() / base_rate,
        })
    );
    Ok(())
}
