//! The SSRF guard: upstream requests may reach public addresses only, unless local networks are allowed
//! or an allowlist names the destination. Checked on the URL (IP literals), on every DNS answer and on
//! every redirect; through a proxy, which resolves names itself, on the names' addresses before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// The error a refused address produces inside reqwest.
#[derive(Debug)]
pub struct BlockedAddress(pub String);

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is a local or private address", self.0)
    }
}

impl std::error::Error for BlockedAddress {}

/// True for loopback, private, link-local (cloud metadata), shared, unspecified, broadcast, multicast and
/// documentation addresses, in IPv4 or IPv6 (IPv6 addresses that carry an IPv4 address included).
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_blocked_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_blocked_v4(v4),
            None => is_blocked_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address reaches through a translator or tunnel: IPv4-mapped
/// (`::ffff:0:0/96`), NAT64 (`64:ff9b::/96` and the local-use `64:ff9b:1::/48`) and 6to4 (`2002::/16`).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let octets = ip.octets();
    let segments = ip.segments();
    let last_32 = || Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..3] == [0x64, 0xff9b, 1] {
        Some(last_32())
    } else if segments[0] == 0x2002 {
        Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]))
    } else {
        None
    }
}

fn is_blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0)
        || a >= 240
}

fn is_blocked_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || ip
            .to_ipv4()
            .is_some_and(|v4| is_blocked_v4(v4) && !v4.is_unspecified())
}

/// Destinations an administrator trusts although they are local or private: host names, exact
/// (`nexus.corp.example`) or by suffix (`*.corp.example`, which does not match `corp.example` itself),
/// and addresses or CIDR ranges (`10.20.0.0/16`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    hosts: Vec<String>,
    suffixes: Vec<String>,
    networks: Vec<IpNet>,
}

impl Allowlist {
    /// Parses entries, each a host name, `*.` and a domain, an IP address or a CIDR range.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if let Ok(network) = entry.parse::<IpNet>() {
                list.networks.push(network);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                list.networks.push(IpNet::from(ip));
            } else if let Some(domain) = entry.strip_prefix("*.") {
                list.suffixes
                    .push(format!(".{}", valid_host_name(domain, entry)?));
            } else {
                list.hosts.push(valid_host_name(entry, entry)?);
            }
        }
        Ok(list)
    }

    /// True when the host name is listed, exactly or under a listed suffix.
    pub fn contains_host(&self, host: &str) -> bool {
        let host = normal_host_name(host);
        self.hosts.contains(&host) || self.suffixes.iter().any(|suffix| host.ends_with(suffix))
    }

    /// True when the address lies in a listed range.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(&ip))
    }
}

/// Lower case, without the trailing dot of a fully qualified name.
fn normal_host_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn valid_host_name(name: &str, entry: &str) -> Result<String, String> {
    let name = normal_host_name(name);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.split('.').all(label_ok) {
        Ok(name)
    } else {
        Err(format!(
            "{entry:?} is neither a host name, *.domain, an IP address nor a CIDR range"
        ))
    }
}

/// Which destinations upstream requests may reach: public addresses, and local or private ones only when
/// local networks are allowed or the allowlist names them.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Allow every local and private address (tests, closed networks).
    pub allow_local_network: bool,
    /// Local or private destinations trusted one by one.
    pub allowlist: Allowlist,
}

impl AddressPolicy {
    /// True when a connection to this address is allowed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allow_local_network || !is_blocked_ip(ip) || self.allowlist.contains_ip(ip)
    }

    /// True when this host name is trusted whatever it resolves to.
    pub fn trusts_host(&self, host: &str) -> bool {
        self.allow_local_network || self.allowlist.contains_host(host)
    }
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not http or https.
    Scheme(String),
    /// No host at all.
    NoHost,
    /// `localhost` or a name under it.
    Localhost,
    /// The host is, or resolves to, this local or private address.
    Address(IpAddr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Scheme(scheme) => write!(f, "scheme {scheme} is not allowed"),
            Refusal::NoHost => write!(f, "URL has no host"),
            Refusal::Localhost => write!(f, "localhost is a local address"),
            Refusal::Address(ip) => BlockedAddress(ip.to_string()).fmt(f),
        }
    }
}

/// How long a host name's resolution may take when it is checked before a request.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks a URL without resolving it: http(s) only, and an IP literal host must be allowed. Host names
/// are left to the resolver ([`GuardedResolver`]) or to [`check_destination`].
pub fn check_url(url: &Url, policy: &AddressPolicy) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme(url.scheme().to_owned()));
    }
    let ip = match url.host() {
        None => return Err(Refusal::NoHost),
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
    };
    if policy.allows_ip(ip) {
        Ok(())
    } else {
        Err(Refusal::Address(ip))
    }
}

/// Checks a URL and, unless its host name is trusted, every address the name resolves to: for requests
/// that packyard does not resolve itself (through a proxy) and for URLs an administrator saves. A name
/// that does not resolve here is let through: it reaches nothing from here, and a proxy resolves it on
/// its own side.
pub async fn check_destination(url: &Url, policy: &AddressPolicy) -> Result<(), Refusal> {
    check_url(url, policy)?;
    let Some(Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    if policy.trusts_host(host) {
        return Ok(());
    }
    // Names under `localhost` are loopback whether or not this resolver knows them (RFC 6761).
    let name = normal_host_name(host);
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if (name == "localhost" || name.ends_with(".localhost")) && !policy.allows_ip(loopback) {
        return Err(Refusal::Localhost);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    if let Ok(Ok(addresses)) = lookup {
        for address in addresses {
            if !policy.allows_ip(address.ip()) {
                return Err(Refusal::Address(address.ip()));
            }
        }
    }
    Ok(())
}

/// A resolver that drops local and private answers the policy does not allow, so a public name pointing
/// inside is refused too. Trusted names, and the host names of the configured proxies (usually on a
/// private address), get every answer.
pub struct GuardedResolver {
    /// The policy in force.
    pub policy: AddressPolicy,
    /// Host names of the outbound proxies.
    pub proxy_hosts: Vec<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = self.policy.trusts_host(&host)
            || self
                .proxy_hosts
                .iter()
                .any(|proxy| normal_host_name(proxy) == normal_host_name(&host));
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| trusted || policy.allows_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                let shown = addrs.first().map_or(host, |a| a.ip().to_string());
                return Err(
                    Box::new(BlockedAddress(shown)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_local_private_and_metadata_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::c0a8:101",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:0a00:0001:1234::5",
        ] {
            assert!(is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    fn policy(allow_local_network: bool, allowlist: &[&str]) -> AddressPolicy {
        AddressPolicy {
            allow_local_network,
            allowlist: Allowlist::parse(allowlist).unwrap(),
        }
    }

    #[test]
    fn checks_ip_literals_and_schemes() {
        let url = |s: &str| Url::parse(s).unwrap();
        let closed = policy(false, &[]);
        let open = policy(true, &[]);
        assert_eq!(
            check_url(&url("http://127.0.0.1:8080/x"), &closed),
            Err(Refusal::Address("127.0.0.1".parse().unwrap()))
        );
        assert!(check_url(&url("http://[::1]/x"), &closed).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/x"), &open).is_ok());
        assert!(check_url(&url("ftp://example.com/x"), &open).is_err());
        assert!(check_url(&url("https://example.com/x"), &closed).is_ok());
    }

    #[test]
    fn the_allowlist_takes_names_suffixes_addresses_and_ranges() {
        let list = Allowlist::parse(&[
            "Nexus.Corp.Example.",
            "*.build.example",
            "10.20.0.0/16",
            "192.168.1.7",
            "fd12::/16",
        ])
        .unwrap();
        for host in [
            "nexus.corp.example",
            "NEXUS.corp.example.",
            "a.b.build.example",
        ] {
            assert!(list.contains_host(host), "{host}");
        }
        for host in [
            "corp.example",
            "build.example",
            "evilbuild.example",
            "nexus.corp.example.evil",
        ] {
            assert!(!list.contains_host(host), "{host}");
        }
        for ip in ["10.20.3.4", "192.168.1.7", "fd12::1"] {
            assert!(list.contains_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.21.0.1", "192.168.1.8", "fd13::1"] {
            assert!(!list.contains_ip(ip.parse().unwrap()), "{ip}");
        }
        for bad in [
            "",
            "*.",
            "exa mple.com",
            "http://nexus",
            "10.0.0.0/33",
            "*.*.example",
        ] {
            assert!(Allowlist::parse(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listed_addresses_pass_the_guard_and_others_stay_blocked() {
        let url = |s: &str| Url::parse(s).unwrap();
        let listed = policy(false, &["10.20.0.0/16", "::1"]);
        assert!(check_url(&url("http://10.20.0.5/maven"), &listed).is_ok());
        assert!(check_url(&url("http://10.30.0.5/maven"), &listed).is_err());
        assert!(check_url(&url("http://169.254.169.254/"), &listed).is_err());
        assert!(
            listed.allows_ip("8.8.8.8".parse().unwrap()),
            "public stays allowed"
        );
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to_unless_trusted() {
        let url = |s: &str| Url::parse(s).unwrap();
        let closed = policy(false, &[]);
        assert_eq!(
            check_destination(&url("http://localhost:8080/x"), &closed).await,
            Err(Refusal::Localhost)
        );
        let trusted = policy(false, &["localhost"]);
        assert!(
            check_destination(&url("http://localhost:8080/x"), &trusted)
                .await
                .is_ok()
        );
        let loopback = policy(false, &["127.0.0.0/8", "::1"]);
        assert!(
            check_destination(&url("http://localhost:8080/x"), &loopback)
                .await
                .is_ok()
        );
        assert_eq!(
            check_destination(&url("http://localhost:8080/x"), &policy(false, &["::1"])).await,
            Err(Refusal::Localhost)
        );
        assert!(
            check_destination(&url("http://upstream.invalid/x"), &closed)
                .await
                .is_ok(),
            "a name that does not resolve here is left to the proxy"
        );
        assert!(
            check_destination(&url("http://127.0.0.1/x"), &loopback)
                .await
                .is_ok()
        );
    }
}
