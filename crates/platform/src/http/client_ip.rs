//! [`ClientIp`]: the caller's address, for rate limits. `X-Forwarded-For` is believed only when
//! the connection comes from a configured trusted proxy; otherwise anyone could pick their IP.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The configured trusted proxies (an extension set by the HTTP shell).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Arc<Vec<ipnet::IpNet>>);

/// The client's IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What per-client rate limits count against: an IPv4 address as it is, an IPv6 address by
    /// its /64 network (one subscriber is usually given a whole /64, so counting single IPv6
    /// addresses would be no limit at all). IPv4-mapped IPv6 addresses count as IPv4.
    pub fn network(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let trusted = parts.extensions.get::<TrustedProxies>().cloned().unwrap_or_default();
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Ok(ClientIp::resolve(peer, &trusted.0, forwarded))
    }
}

impl ClientIp {
    /// The client behind a connection from `peer`: `peer` itself, unless it is one of the
    /// `trusted` proxies, when the `forwarded` values (`X-Forwarded-For`, as many as were sent)
    /// are walked from the right, skipping our own proxies, and the first other hop is the
    /// client. The same rule for HTTP and gRPC (metadata `x-forwarded-for`).
    pub fn resolve<'a>(peer: IpAddr, trusted: &[ipnet::IpNet], forwarded: impl Iterator<Item = &'a str>) -> ClientIp {
        // An IPv4 peer on an IPv6 socket (`::ffff:a.b.c.d`) matches an entry in either form.
        let is_trusted = |ip: &IpAddr| {
            let plain = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
                v4 => *v4,
            };
            trusted.iter().any(|net| net.contains(ip) || net.contains(&plain))
        };
        if !is_trusted(&peer) {
            return ClientIp(peer);
        }
        let forwarded: Vec<IpAddr> =
            forwarded.flat_map(|v| v.split(',')).filter_map(|s| s.trim().parse::<IpAddr>().ok()).collect();
        ClientIp(forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_trusted_by_address_or_network() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.42.0.0/16".parse().unwrap(), "192.0.2.10/32".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let via = |peer: &str, header: &str| ClientIp::resolve(ip(peer), &trusted, std::iter::once(header)).0;
        assert_eq!(via("10.42.7.9", "203.0.113.5"), ip("203.0.113.5"), "a pod of the controller's network");
        assert_eq!(via("192.0.2.10", "203.0.113.5, 10.42.0.3"), ip("203.0.113.5"), "our own hops are skipped");
        assert_eq!(via("::ffff:10.42.1.1", "203.0.113.5"), ip("203.0.113.5"), "an IPv4 peer on an IPv6 socket");
        assert_eq!(via("10.43.0.1", "203.0.113.5"), ip("10.43.0.1"), "outside the network: not believed");
        assert_eq!(via("10.42.0.1", "10.42.0.2"), ip("10.42.0.1"), "nothing but proxies: the peer");
        let mapped: Vec<ipnet::IpNet> = vec!["::ffff:192.0.2.10/128".parse().unwrap()];
        let peer = ip("::ffff:192.0.2.10");
        assert_eq!(ClientIp::resolve(peer, &mapped, std::iter::once("203.0.113.5")).0, ip("203.0.113.5"), "as logged");
    }

    #[test]
    fn limits_count_ipv6_per_64() {
        let net = |s: &str| ClientIp(s.parse().unwrap()).network();
        assert_eq!(net("203.0.113.7"), "203.0.113.7");
        assert_eq!(net("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(net("2001:db8:1:2:bbbb:cccc:dddd:eeee"), net("2001:db8:1:2::9"));
        assert_ne!(net("2001:db8:1:2::1"), net("2001:db8:1:3::1"));
        assert_eq!(net("::ffff:203.0.113.7"), "203.0.113.7");
    }
}
