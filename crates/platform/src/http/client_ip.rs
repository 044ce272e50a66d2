//! [`ClientIp`]: the caller's address, for rate limits. `X-Forwarded-For` is believed only when
//! the connection comes from a configured trusted proxy; otherwise anyone could pick their IP.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The configured trusted proxies (an extension set by the HTTP shell).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpAddr>>);

/// The client's IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let trusted = parts.extensions.get::<TrustedProxies>().cloned().unwrap_or_default();
        if !trusted.0.contains(&peer) {
            return Ok(ClientIp(peer));
        }
        // Walk X-Forwarded-For from the right, skipping our own proxies; the first other hop is the client.
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        let client = forwarded.into_iter().rev().find(|ip| !trusted.0.contains(ip)).unwrap_or(peer);
        Ok(ClientIp(client))
    }
}
