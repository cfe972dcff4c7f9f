//! The URL oracle of the `url` and `config` fuzz targets, also run by the relay's own
//! `cargo test` (`tests/url_oracle.rs` includes this file, so it cannot rot): every URL the
//! relay's rules (`core::config::url`) accept must be one the WHATWG URL parser (the `url`
//! crate, the standard the runtime's `fetch` follows) accepts too, with the same host (up to
//! ASCII case; IPv6 by address) and port, no credentials, and plain http only to a loopback
//! host.

use b2b_relay::core::config::url::{self as rules, Parsed};
use std::net::{IpAddr, Ipv6Addr};

/// Checks `u` against the rules and, when they accept it, against the parser. Returns whether
/// the rules accepted it.
pub fn check(u: &str) -> bool {
    match rules::parse(u) {
        Ok(ours) => {
            agree(u, &ours);
            true
        }
        Err(_) => false,
    }
}

/// Panics unless the parser reads `u` as the rules did (`ours`).
pub fn agree(u: &str, ours: &Parsed) {
    let parsed = url::Url::parse(u)
        .unwrap_or_else(|e| panic!("the relay accepts {u:?}, the URL parser refuses it: {e}"));
    let scheme = if ours.https { "https" } else { "http" };
    assert_eq!(parsed.scheme(), scheme, "{u:?}");
    assert!(
        parsed.username().is_empty() && parsed.password().is_none(),
        "{u:?} carries credentials"
    );
    let host = parsed
        .host()
        .unwrap_or_else(|| panic!("{u:?} has no host for the URL parser"));
    match host {
        url::Host::Domain(d) => assert_eq!(d, ours.host.to_ascii_lowercase(), "{u:?}"),
        url::Host::Ipv4(_) => assert_eq!(host.to_string(), ours.host, "{u:?}"),
        url::Host::Ipv6(a) => {
            let mine: Option<Ipv6Addr> = ours
                .host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok());
            assert_eq!(mine, Some(a), "{u:?}");
        }
    }
    let default = if ours.https { 443 } else { 80 };
    assert_eq!(
        parsed.port_or_known_default(),
        Some(ours.port.unwrap_or(default)),
        "{u:?}"
    );
    if !ours.https {
        let loopback = match host {
            url::Host::Domain(d) => d == "localhost",
            url::Host::Ipv4(a) => IpAddr::V4(a).is_loopback(),
            url::Host::Ipv6(a) => IpAddr::V6(a).is_loopback(),
        };
        assert!(loopback, "plain http accepted for {u:?}");
    }
}
