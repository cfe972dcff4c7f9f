//! The URL rules: `https://host[:port]/…` anywhere, `http://` only to a loopback host.

use std::net::{Ipv4Addr, Ipv6Addr};

fn is_loopback(host: &str) -> bool {
    // An address, not a prefix: `127.example.com` is a name anyone can point anywhere.
    host == "localhost"
        || host == "[::1]"
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// A host the runtime's URL parser (WHATWG, used by `fetch`) takes as written: a bracketed
/// IPv6 address, a dotted IPv4 address, or a name of ASCII letters, digits, `-`, `_` and `.`.
/// WHATWG reads a name whose last label is numeric (or `0x…`) as an IPv4 address, so
/// `1.2.3.999` or `a.1` would fail at every delivery instead of here.
fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let last = name.rsplit('.').next().unwrap_or("");
    if last.bytes().all(|b| b.is_ascii_digit()) || last.to_ascii_lowercase().starts_with("0x") {
        return name.parse::<Ipv4Addr>().is_ok();
    }
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `https://host[:port]/…` anywhere; `http://` only to a loopback host (local development).
pub fn check_url(url: &str) -> Result<(), String> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("url must not contain spaces or control characters".into());
    }
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("url must start with https://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("url must not contain credentials; use `headers`".into());
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() || host == "[]" {
        return Err("url has no host".into());
    }
    if let Some(port) = authority[host.len()..].strip_prefix(':') {
        // Digits only: `u16::from_str` would also take `+80`, which URL parsers refuse.
        if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
            return Err("url has an invalid port".into());
        }
    } else if authority.len() != host.len() {
        return Err("url has an invalid host".into());
    }
    if !valid_host(host) {
        return Err(
            "url has an invalid host (ASCII letters, digits, `-`, `_`, `.`, or an IP address)"
                .into(),
        );
    }
    if !https && !is_loopback(host) {
        return Err("url must use https (http is allowed only for loopback hosts)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_http_only() {
        for ok in [
            "http://127.0.0.1:8788/x",
            "http://localhost/",
            "http://[::1]:9/",
            "https://a.b/c?d#e",
            "https://a.b:443",
            "https://Crm.Example.com./x",
            "https://my_host-1.example/",
            "https://10.0.0.1:8443/",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "https://",
            "https://a b",
            "https://a:99999/",
            "https://a:x/",
            "//a",
            "http://127.evil.example/",
            "https://[abc/",
            "https://a:+80/",
            "https://1.2.3.999/",
            "https://a.1/",
            "https://exa\u{fffd}mple.com/",
            "https://a^b/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
