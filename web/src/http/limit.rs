//! Rate limits (`governor`, in this process): per client IP on every route but the probes (the
//! webhook routes with their own quota), and per tenant on every authenticated route. A refused
//! request gets 429 with `Retry-After` and `RateLimit-*` headers; an admitted one learns what is
//! left of its IP's quota.
//!
//! The client IP is the peer's address, unless the peer is a trusted proxy: then the right-most
//! `X-Forwarded-For` entry that is not a trusted proxy (entries further left are whatever the
//! client claimed).

use std::net::IpAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use findash_schema::TenantId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;

use super::{ApiError, AppState};
use crate::limits::{Quota, TrustedProxies};

type Keyed<K> =
    governor::RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

pub struct Limits {
    ip: Keyed<IpAddr>,
    tenant: Keyed<TenantId>,
    webhook: Keyed<IpAddr>,
    ip_quota: Quota,
    tenant_quota: Quota,
    webhook_quota: Quota,
    proxies: TrustedProxies,
}

/// Requests left, or how long until the next one is allowed.
type Verdict = Result<u32, Duration>;

impl Limits {
    pub fn new(
        ip_quota: Quota,
        tenant_quota: Quota,
        webhook_quota: Quota,
        proxies: TrustedProxies,
    ) -> Limits {
        Limits {
            ip: governor::RateLimiter::dashmap(ip_quota.governor())
                .with_middleware::<StateInformationMiddleware>(),
            tenant: governor::RateLimiter::dashmap(tenant_quota.governor())
                .with_middleware::<StateInformationMiddleware>(),
            webhook: governor::RateLimiter::dashmap(webhook_quota.governor())
                .with_middleware::<StateInformationMiddleware>(),
            ip_quota,
            tenant_quota,
            webhook_quota,
            proxies,
        }
    }

    fn verdict<K: std::hash::Hash + Eq + Clone>(limiter: &Keyed<K>, key: &K) -> Verdict {
        match limiter.check_key(key) {
            Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
            Err(not_until) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    /// Admits one request of `tenant` or says when to come back.
    pub fn admit_tenant(&self, tenant: TenantId) -> Result<(), ApiError> {
        Self::verdict(&self.tenant, &tenant)
            .map(|_| ())
            .map_err(|wait| ApiError::too_many_requests(wait, self.tenant_quota.burst.get()))
    }

    /// Forgets keys whose buckets are full again (bounded memory under many clients).
    pub fn forget_idle(&self) {
        self.ip.retain_recent();
        self.tenant.retain_recent();
        self.webhook.retain_recent();
    }

    /// The client's address: the peer, or for a trusted proxy the last untrusted address it
    /// forwarded.
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.proxies.contains(peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(ip) if self.proxies.contains(ip) => continue,
                Ok(ip) => return Some(ip),
                // Garbage where an address should be: the proxy's view is all we can trust.
                Err(_) => return Some(peer),
            }
        }
        Some(peer)
    }
}

const PROBES: &[&str] = &["/healthz", "/readyz", "/metrics"];

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if PROBES.contains(&req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let limits = &state.limits;
    let Some(ip) = limits.client_ip(req.request()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    // Webhook senders burst (a backlog after an outage) and retry what is refused: their
    // routes have a quota of their own, so neither traffic starves the other.
    let webhook = crate::webhooks::provider_of_path(req.path());
    let (limiter, quota) = match webhook {
        Some(_) => (&limits.webhook, limits.webhook_quota),
        None => (&limits.ip, limits.ip_quota),
    };
    match Limits::verdict(limiter, &ip) {
        Ok(remaining) => {
            let mut res = next.call(req).await?;
            let headers = res.headers_mut();
            // A tenant refusal already says which quota ran out.
            if !headers.contains_key(LIMIT) {
                headers.insert(LIMIT, HeaderValue::from(quota.burst.get()));
                headers.insert(REMAINING, HeaderValue::from(remaining));
            }
            Ok(res.map_into_left_body())
        }
        Err(wait) => {
            if let Some(provider) = webhook {
                state.metrics.webhook(provider, "rate_limited");
            }
            let error = ApiError::too_many_requests(wait, quota.burst.get());
            Ok(req.error_response(error).map_into_right_body())
        }
    }
}

pub const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
