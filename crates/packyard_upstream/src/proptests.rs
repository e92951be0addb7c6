//! Property tests of what this crate parses from upstreams and settings: `WWW-Authenticate` challenges
//! and the addresses the SSRF guard judges. Arbitrary input never panics; a challenge reads back the
//! parameters it was written with; an IPv4 address is judged the same however an IPv6 address carries it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packyard_test_inputs::{CASES, config};
use proptest::prelude::*;
use url::Url;

use crate::{check_url, embedded_ipv4, is_blocked_ip, parse_bearer_challenge};

/// A quoted auth-param value, with `"` and `\` escaped.
fn quoted(value: &str) -> String {
    let mut quoted = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_challenge_never_panics(
        header in prop_oneof![
            any::<String>(),
            "(Bearer|bearer|Basic) ?([a-z]{1,6}=(\"[ -~]{0,10}\"?|[a-z:/.]{0,10})[, ]{0,2}){0,4}",
        ],
    ) {
        if let Some(challenge) = parse_bearer_challenge(&header) {
            prop_assert!(!challenge.realm.is_empty());
            prop_assert!(header.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer")));
        }
    }

    #[test]
    fn a_challenge_reads_back_its_parameters(
        realm in "[!-~][ -~]{0,20}",
        service in "[ -~]{0,20}",
        scope in "[ -~]{0,20}",
        separator in prop_oneof![Just(","), Just(", "), Just(" ,  ")],
    ) {
        let header = format!(
            "Bearer realm={}{separator}service={}{separator}scope={}",
            quoted(&realm), quoted(&service), quoted(&scope)
        );
        let challenge = parse_bearer_challenge(&header);
        prop_assert_eq!(challenge.as_ref().map(|c| c.realm.as_str()), Some(realm.trim()));
        prop_assert_eq!(challenge.as_ref().and_then(|c| c.service.as_deref()), Some(service.trim()));
        prop_assert_eq!(challenge.as_ref().and_then(|c| c.scope.as_deref()), Some(scope.trim()));
    }

    #[test]
    fn an_ipv4_address_is_judged_the_same_in_every_ipv6_form(octets in any::<[u8; 4]>()) {
        let v4 = Ipv4Addr::from(octets);
        let blocked = is_blocked_ip(IpAddr::V4(v4));
        let [a, b, c, d] = octets;
        let pair = |x: u8, y: u8| u16::from_be_bytes([x, y]);
        for v6 in [
            v4.to_ipv6_mapped(),
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, pair(a, b), pair(c, d)),
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, pair(a, b), pair(c, d)),
            Ipv6Addr::new(0x2002, pair(a, b), pair(c, d), 0, 0, 0, 0, 1),
        ] {
            prop_assert_eq!(embedded_ipv4(v6), Some(v4));
            prop_assert_eq!(is_blocked_ip(IpAddr::V6(v6)), blocked, "{}", v6);
        }
    }

    #[test]
    fn any_url_is_checked_without_panic(
        raw in prop_oneof![
            any::<String>(),
            "(http|https|ftp|file)://(\\[[0-9a-f:.]{2,20}\\]|[0-9.]{7,15}|[a-z.]{1,12}|0x[0-9a-f]{1,8}|[0-9]{1,10})(:[0-9]{1,5})?/[a-z]{0,5}",
        ],
        allow in any::<bool>(),
    ) {
        if let Ok(url) = Url::parse(&raw) {
            let policy = crate::AddressPolicy { allow_local_network: allow, ..Default::default() };
            let checked = check_url(&url, &policy);
            if checked.is_ok() {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
            }
            if let (Ok(()), false, Some(url::Host::Ipv4(ip))) = (&checked, allow, url.host()) {
                prop_assert!(!is_blocked_ip(IpAddr::V4(ip)));
            }
        }
    }
}
