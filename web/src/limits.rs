//! The settings of the API's rate limits and of the proxies whose `X-Forwarded-For` is
//! believed, as the configuration reads them.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

/// `N/period[:burst]` with period `s`, `m` or `h`: N requests per period on average, at most
/// `burst` (default N) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl Quota {
    /// The same quota for `governor`: one request replenished every period / N.
    pub fn governor(&self) -> governor::Quota {
        let every = (self.period / self.count.get()).max(Duration::from_nanos(1));
        governor::Quota::with_period(every)
            .unwrap_or_else(|| governor::Quota::per_second(self.count))
            .allow_burst(self.burst)
    }
}

impl FromStr for Quota {
    type Err = String;

    fn from_str(s: &str) -> Result<Quota, String> {
        let bad = || format!("`{s}` is not N/period[:burst] (period s, m or h), e.g. 600/m:120");
        let (rate, burst) = match s.trim().split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (s.trim(), None),
        };
        let (count, period) = rate.split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let period = match period.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| bad())?,
            None => count,
        };
        Ok(Quota {
            count,
            period,
            burst,
        })
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let period = match self.period.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{period}:{}", self.count, self.burst)
    }
}

/// Proxies in front of the service (`TRUSTED_PROXIES`: addresses or CIDR blocks, comma
/// separated). Only a request arriving from one of them may name its client in
/// `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, len)| in_block(ip, *net, *len))
    }
}

fn in_block(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|ip| in_block(IpAddr::V4(ip), net, len)),
        _ => false,
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<TrustedProxies, String> {
        let mut blocks = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || format!("`{item}` is not an IP address or CIDR block");
            let (ip, len) = match item.split_once('/') {
                Some((ip, len)) => (ip, Some(len)),
                None => (item, None),
            };
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(len) => len
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(bad)?,
                None => max,
            };
            blocks.push((ip, len));
        }
        Ok(TrustedProxies(blocks))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(ip, len)| format!("{ip}/{len}"))
            .collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_with_and_without_burst_and_refuse_nonsense() {
        let q: Quota = "600/m:120".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (q.count.get(), q.period, q.burst.get()),
            (600, Duration::from_secs(60), 120)
        );
        let q: Quota = "5/s".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.burst.get(), 5);
        assert_eq!(q.to_string(), "5/s:5");
        for bad in ["", "10", "0/s", "10/d", "10/s:0", "x/s", "10/s:y"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proxies_match_addresses_and_blocks_of_both_families() {
        let p: TrustedProxies = "10.0.0.0/8, 192.168.1.7, fd00::/8"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert!(p.contains(ip("10.200.3.4")));
        assert!(p.contains(ip("192.168.1.7")));
        assert!(!p.contains(ip("192.168.1.8")));
        assert!(p.contains(ip("fd12::1")));
        assert!(p.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!p.contains(ip("11.0.0.1")));
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
        for bad in ["10.0.0.0/33", "nowhere", "::/129"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad:?}");
        }
    }
}
