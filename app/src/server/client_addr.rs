//! Which address a request comes from, for the per-address throttles and the
//! audit trail.
//!
//! - A forwarding header (`X-Forwarded-For`) is believed only when the TCP
//!   peer is a configured trusted proxy (`TRUSTED_PROXIES`). The client is then
//!   the right-most address in the header that is not itself a trusted proxy:
//!   entries to its left were written by the client and may be forged.
//! - IPv6 clients are counted per /64, the block one subscriber usually holds.
//! - With `TRUSTED_PROXIES` unset, a peer on a loopback, private or shared
//!   (carrier-grade NAT) address may be a reverse proxy nobody told us about,
//!   so it is not counted per address at all: otherwise thirty wrong passwords
//!   from anyone would lock every user behind that proxy out. Setting
//!   `TRUSTED_PROXIES` (to the proxies, or to `none` when there is no proxy)
//!   turns counting on for every client that is not a trusted proxy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address block such as `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{raw:?} is not an IP address or CIDR block"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("{raw:?} has a prefix length above {max} or not a number")
            })?,
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The `TRUSTED_PROXIES` setting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TrustedProxies {
    /// Not configured: no forwarding header is believed, and peers on
    /// loopback/private/shared addresses are not counted per address.
    #[default]
    Unset,
    /// Configured (`none` is the empty list): forwarding headers are believed
    /// from these peers only, and every other peer is a client.
    List(Vec<IpNet>),
}

impl TrustedProxies {
    /// A comma-separated list of addresses and CIDR blocks, or `none`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::List(Vec::new()));
        }
        let nets = raw
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(IpNet::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if nets.is_empty() {
            return Err("list at least one address or CIDR block, or write none".into());
        }
        Ok(Self::List(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            Self::Unset => false,
            Self::List(nets) => nets.iter().any(|net| net.contains(ip)),
        }
    }
}

/// Where a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress {
    /// The client's address as far as it is known (the peer when no trusted
    /// proxy says otherwise), for logs.
    pub ip: String,
    /// What the per-address throttles count: the address, or its /64 for
    /// IPv6. None when the address may be shared by many people (a proxy
    /// that is not configured, or no address at all): then nothing is
    /// counted or refused per address.
    pub throttle_key: Option<String>,
}

impl ClientAddress {
    /// The value the audit trail stores: the throttle key, or the address.
    pub fn audit_value(&self) -> &str {
        self.throttle_key.as_deref().unwrap_or(&self.ip)
    }

    fn shared(ip: String) -> Self {
        Self {
            ip,
            throttle_key: None,
        }
    }

    fn client(ip: IpAddr) -> Self {
        Self {
            ip: ip.to_string(),
            throttle_key: Some(throttle_key(ip)),
        }
    }
}

/// The client address of a request from `peer` carrying the given
/// `X-Forwarded-For` header values (in the order received).
pub fn resolve(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &TrustedProxies,
) -> ClientAddress {
    let Some(peer) = peer.map(canonical) else {
        return ClientAddress::shared("unknown".into());
    };
    if !trusted.trusts(peer) {
        return match trusted {
            TrustedProxies::Unset if may_be_a_proxy(peer) => {
                ClientAddress::shared(peer.to_string())
            }
            _ => ClientAddress::client(peer),
        };
    }
    // Right to left: each trusted proxy appended the address it received from.
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.trusts(ip) => continue,
            Some(ip) => return ClientAddress::client(ip),
            // A header we cannot read names nobody we could count.
            None => break,
        }
    }
    ClientAddress::shared(peer.to_string())
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The address for IPv4; the /64 block for IPv6.
fn throttle_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let block = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(block))
        }
    }
}

/// Loopback, private, shared (CGNAT), link-local and unspecified addresses:
/// where an unconfigured reverse proxy would connect from.
fn may_be_a_proxy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || in_v4(v4, Ipv4Addr::new(100, 64, 0, 0), 10)
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            v6.is_loopback()
                || v6.is_unspecified()
                || bits >> 121 == 0xfc >> 1 // fc00::/7, unique local
                || bits >> 118 == 0xfe80 >> 6 // fe80::/10, link-local
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, prefix: u32) -> bool {
    let mask = u32::MAX << (32 - prefix);
    u32::from(ip) & mask == u32::from(net) & mask
}

/// The client address of the request being served (a server function's).
pub async fn of_this_request(trusted: &TrustedProxies) -> ClientAddress {
    let peer = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|info| info.0.ip());
    let headers = leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .unwrap_or_default();
    let forwarded_for: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    resolve(peer, &forwarded_for, trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> Option<IpAddr> {
        Some(raw.parse().unwrap())
    }

    fn proxies(raw: &str) -> TrustedProxies {
        TrustedProxies::parse(raw).unwrap()
    }

    fn key(address: &ClientAddress) -> Option<&str> {
        address.throttle_key.as_deref()
    }

    #[test]
    fn a_public_peer_is_the_client_and_its_forwarding_header_is_ignored() {
        for trusted in [TrustedProxies::Unset, proxies("10.0.0.1")] {
            let address = resolve(ip("203.0.113.7"), &["198.51.100.1"], &trusted);
            assert_eq!(key(&address), Some("203.0.113.7"));
            assert_eq!(address.ip, "203.0.113.7");
        }
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_private_peer_is_ignored() {
        let address = resolve(ip("10.0.0.9"), &["198.51.100.1"], &proxies("10.0.0.1"));
        assert_eq!(key(&address), Some("10.0.0.9"));
    }

    #[test]
    fn without_the_setting_a_private_or_loopback_peer_is_not_counted() {
        for peer in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.5",
            "100.64.1.1",
            "::1",
            "fd00::1",
        ] {
            let address = resolve(ip(peer), &["198.51.100.1"], &TrustedProxies::Unset);
            assert_eq!(key(&address), None, "{peer}");
            assert_eq!(address.ip, peer.parse::<IpAddr>().unwrap().to_string());
        }
    }

    #[test]
    fn with_the_setting_none_every_peer_is_a_client() {
        let address = resolve(ip("127.0.0.1"), &["198.51.100.1"], &proxies("none"));
        assert_eq!(key(&address), Some("127.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_in_the_right_most_entry() {
        let address = resolve(
            ip("10.0.0.1"),
            &["6.6.6.6, 198.51.100.1"],
            &proxies("10.0.0.0/8"),
        );
        assert_eq!(key(&address), Some("198.51.100.1"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped_from_the_right() {
        // client 198.51.100.1 → CDN 192.0.2.10 → load balancer 10.0.0.2 → us
        let trusted = proxies("10.0.0.0/8, 192.0.2.0/24");
        let address = resolve(
            ip("10.0.0.2"),
            &["6.6.6.6, 198.51.100.1", "192.0.2.10"],
            &trusted,
        );
        assert_eq!(key(&address), Some("198.51.100.1"));
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_not_counted() {
        let trusted = proxies("10.0.0.1");
        for header in [
            vec![],
            vec!["10.0.0.1"],
            vec!["not-an-ip"],
            vec!["1.2.3.4, garbage"],
            vec![""],
        ] {
            let address = resolve(ip("10.0.0.1"), &header, &trusted);
            assert_eq!(key(&address), None, "{header:?}");
            assert_eq!(address.ip, "10.0.0.1");
        }
    }

    #[test]
    fn a_malformed_entry_stops_the_walk_instead_of_skipping_to_a_forged_one() {
        let address = resolve(
            ip("10.0.0.1"),
            &["198.51.100.1, bogus"],
            &proxies("10.0.0.1"),
        );
        assert_eq!(key(&address), None);
    }

    #[test]
    fn entries_with_ports_are_read() {
        let trusted = proxies("10.0.0.1");
        let v4 = resolve(ip("10.0.0.1"), &["198.51.100.1:4711"], &trusted);
        assert_eq!(key(&v4), Some("198.51.100.1"));
        let v6 = resolve(ip("10.0.0.1"), &["[2001:db8::1]:4711"], &trusted);
        assert_eq!(key(&v6), Some("2001:db8::/64"));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let trusted = proxies("none");
        let a = resolve(ip("2001:db8:1:2:aaaa::1"), &[], &trusted);
        let b = resolve(ip("2001:db8:1:2:bbbb::9"), &[], &trusted);
        let other = resolve(ip("2001:db8:1:3::1"), &[], &trusted);
        assert_eq!(key(&a), Some("2001:db8:1:2::/64"));
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&other));
        assert_eq!(a.ip, "2001:db8:1:2:aaaa::1");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let address = resolve(ip("::ffff:203.0.113.7"), &[], &TrustedProxies::Unset);
        assert_eq!(key(&address), Some("203.0.113.7"));
        assert!(proxies("203.0.113.0/24").trusts("::ffff:203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn no_peer_address_is_not_counted() {
        let address = resolve(None, &["198.51.100.1"], &proxies("none"));
        assert_eq!(key(&address), None);
        assert_eq!(address.ip, "unknown");
    }

    #[test]
    fn the_setting_rejects_what_is_not_an_address_or_block() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
        assert!(TrustedProxies::parse(" , ").is_err());
        assert!(TrustedProxies::parse("::/129").is_err());
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8, 2001:db8::/32").unwrap(),
            TrustedProxies::List(vec![
                IpNet::parse("10.0.0.0/8").unwrap(),
                IpNet::parse("2001:db8::/32").unwrap()
            ])
        );
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        let net = IpNet::parse("172.16.0.0/12").unwrap();
        assert!(net.contains("172.31.255.255".parse().unwrap()));
        assert!(!net.contains("172.32.0.0".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(!IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(IpNet::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8:ffff::1".parse().unwrap()));
    }
}
