//! The URL rules, one set for every URL setting (target URLs, `PUBLIC_URL`, `BC_API_BASE`,
//! `BC_B2B_API_BASE`): `https://host[:port]/…`, or `http://` to a loopback host (127.0.0.0/8,
//! `localhost`, `[::1]`) so local tests work; no `user:pass@`; a port of 1-65535.
//!
//! A host must be one the runtime's URL parser (WHATWG, used by `fetch`) takes as written, so a
//! URL that would fail at every delivery, or silently reach another host, fails at load instead:
//! a bracketed IPv6 address, a dotted-decimal IPv4 address, or a name of ASCII letters, digits,
//! `-`, `_` in dot-separated labels. `xn--` labels must be punycode that decodes to letters the
//! parser keeps as they are. Checked against the `url` crate in `tests/url_oracle.rs`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// What is wrong with a URL. [`Problem::message`] names the setting it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Whitespace,
    Scheme,
    Credentials,
    NoHost,
    Port,
    Host,
    Label,
    Punycode,
    PlainHttp,
}

impl Problem {
    /// `"{setting} must use https …"`: the setting is a variable name (`BC_API_BASE`) or a
    /// field (`TARGETS[0] "crm": url`).
    pub fn message(self, setting: &str) -> String {
        let what = match self {
            Problem::Whitespace => "must not contain spaces or control characters",
            Problem::Scheme => "must start with https://",
            Problem::Credentials => "must not contain credentials (`user:pass@`)",
            Problem::NoHost => "has no host",
            Problem::Port => "has an invalid port (1-65535)",
            Problem::Host => {
                "has an invalid host (ASCII letters, digits, `-`, `_`, `.`, or an IP address)"
            }
            Problem::Label => {
                "has an invalid host name (dot-separated labels of 1-63 characters, 253 in all)"
            }
            Problem::Punycode => {
                "has an invalid host name (an `xn--` label that is not valid punycode)"
            }
            Problem::PlainHttp => "must use https (http is allowed only for loopback hosts)",
        };
        format!("{setting} {what}")
    }
}

/// A URL that passed the rules, cut into its parts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub https: bool,
    pub host: &'a str,
    pub port: Option<u16>,
    /// Path, query and fragment: empty or starting with `/`, `?` or `#`.
    pub rest: &'a str,
}

/// Loopback by address, not by prefix: `127.example.com` is a name anyone can point anywhere.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || ipv6(host).is_some_and(|a| a.is_loopback())
}

fn ipv6(host: &str) -> Option<Ipv6Addr> {
    host.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// WHATWG reads a host whose last label is a number (decimal, or hex after `0x`) as an IPv4
/// address in any of several notations (`127.1`, `0x7f.0.0.1`) and rewrites it; only the
/// dotted-decimal form stays as written. A trailing dot would be dropped, so it is refused too.
fn looks_numeric(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or("");
    let hex = last
        .get(..2)
        .filter(|p| p.eq_ignore_ascii_case("0x"))
        .map(|_| &last[2..]);
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => last.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn check_host(host: &str) -> Result<(), Problem> {
    if host.starts_with('[') {
        return ipv6(host).map(|_| ()).ok_or(Problem::Host);
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if looks_numeric(name) {
        return host
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| Problem::Host);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Problem::Host);
    }
    // DNS limits: a longer name or label can never resolve.
    if name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(Problem::Label);
    }
    let xn = |l: &&str| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
    if !name
        .split('.')
        .filter(xn)
        .all(|l| valid_punycode(&l.to_ascii_lowercase()))
    {
        return Err(Problem::Punycode);
    }
    Ok(())
}

/// An `xn--` label (lowercase) is kept by WHATWG only when its punycode decodes, canonically,
/// to a label IDNA finds valid. Accepted here: decodings whose non-ASCII letters are Latin-1's
/// lowercase letters (`ß`, `à`-`ÿ` but `÷`), which IDNA keeps as they are; anything else is
/// refused, though the parser might keep some of it (a stricter rule costs no one a delivery).
fn valid_punycode(label: &str) -> bool {
    let encoded = &label[4..];
    // A delimiter with nothing before it decodes like no delimiter, and is re-encoded without.
    if encoded.starts_with('-') {
        return false;
    }
    let Some(decoded) = punycode_decode(encoded) else {
        return false;
    };
    let allowed = |c: &char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || *c == '-'
            || matches!(c, 'ß'..='ÿ' if *c != '÷')
    };
    let starts_xn = decoded.starts_with(&['x', 'n', '-', '-']);
    !decoded.iter().all(char::is_ascii) && decoded.iter().all(allowed) && !starts_xn
}

/// RFC 3492 decoding, with every overflow refused.
fn punycode_decode(input: &str) -> Option<Vec<char>> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    let adapt = |delta: u32, points: u32, first: bool| {
        let mut delta = if first { delta / 700 } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + 38)
    };
    let (basic, encoded) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut out: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let mut digits = encoded.bytes().peekable();
    while digits.peek().is_some() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let digit = match digits.next()? {
                b @ b'a'..=b'z' => u32::from(b - b'a'),
                b @ b'0'..=b'9' => u32::from(b - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = k.saturating_sub(bias).clamp(TMIN, TMAX);
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k = k.checked_add(BASE)?;
        }
        let len = u32::try_from(out.len()).ok()?.checked_add(1)?;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        out.insert(usize::try_from(i).ok()?, char::from_u32(n)?);
        i += 1;
    }
    Some(out)
}

/// Checks `url` against every rule; the parts as written when it passes.
pub fn parse(url: &str) -> Result<Parsed<'_>, Problem> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Problem::Whitespace);
    }
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(Problem::Scheme);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(Problem::Credentials);
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() || host == "[]" {
        return Err(Problem::NoHost);
    }
    let port = match authority[host.len()..].strip_prefix(':') {
        // Digits only: `u16::from_str` would also take `+80`, which URL parsers refuse.
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(Problem::Port),
        },
        None if authority.len() == host.len() => None,
        None => return Err(Problem::Host),
    };
    check_host(host)?;
    if !https && !is_loopback(host) {
        return Err(Problem::PlainHttp);
    }
    Ok(Parsed {
        https,
        host,
        port,
        rest: tail,
    })
}

/// [`parse`] with the problem named after `setting`.
pub fn check_setting<'a>(setting: &str, url: &'a str) -> Result<Parsed<'a>, String> {
    parse(url).map_err(|p| p.message(setting))
}

/// A base the relay appends paths to (`BC_API_BASE`, `BC_B2B_API_BASE`): the rules, and no
/// query or fragment, which would end up in the middle of every request URL. Trimmed, without
/// trailing slashes.
pub fn check_base(setting: &str, url: &str) -> Result<String, String> {
    let base = url.trim().trim_end_matches('/');
    let parsed = check_setting(setting, base)?;
    if parsed.rest.contains(['?', '#']) {
        return Err(format!(
            "{setting} must not have a query or fragment (paths are appended to it)"
        ));
    }
    Ok(base.to_owned())
}

/// A target's URL: problems read `url must …`.
pub fn check_url(url: &str) -> Result<(), String> {
    check_setting("url", url).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_http_only() {
        for ok in [
            "http://127.0.0.1:8788/x",
            "http://localhost/",
            "http://LocalHost:1/",
            "http://[::1]:9/",
            "http://[0:0::1]/",
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
            "https://a:0/",
            "https://a:/",
            "https://a:x/",
            "//a",
            "http://127.evil.example/",
            "http://localhost.evil.example/",
            "http://[::2]/",
            "https://[abc/",
            "https://a:+80/",
            "https://1.2.3.999/",
            "https://1.2.3.4./",
            "https://a.1/",
            "https://exa\u{fffd}mple.com/",
            "https://a^b/",
            "https://a..b/",
            "https://.a/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn problems_name_the_setting() {
        assert_eq!(
            check_setting("BC_API_BASE", "http://api.example.com").unwrap_err(),
            "BC_API_BASE must use https (http is allowed only for loopback hosts)"
        );
        assert_eq!(
            check_url("https://u:p@x/").unwrap_err(),
            "url must not contain credentials (`user:pass@`)"
        );
        assert_eq!(
            check_base("BC_B2B_API_BASE", " http://127.0.0.1:9/api/ "),
            Ok("http://127.0.0.1:9/api".into())
        );
        assert!(check_base("BC_API_BASE", "https://api.example.com/?x=1")
            .unwrap_err()
            .starts_with("BC_API_BASE must not have a query"));
        let p = check_setting("PUBLIC_URL", "https://Relay.example:8443/x?y").unwrap();
        assert_eq!(
            (p.https, p.host, p.port, p.rest),
            (true, "Relay.example", Some(8443), "/x?y")
        );
    }

    #[test]
    fn labels_follow_dns_lengths_and_punycode() {
        let long = "a".repeat(63);
        assert!(check_url(&format!("https://{long}.example/")).is_ok());
        assert!(check_url(&format!("https://{long}a.example/")).is_err());
        let name = [long.as_str(); 4].join(".");
        assert_eq!(name.len(), 255);
        assert!(check_url(&format!("https://{}/", &name[2..])).is_ok());
        assert!(check_url(&format!("https://{name}/")).is_err());
        // bücher, straße, élan: RFC 3492 encodings
        for ok in [
            "xn--bcher-kva",
            "XN--BCHER-KVA",
            "xn--strae-oqa",
            "xn--lan-9la",
        ] {
            assert_eq!(check_url(&format!("https://{ok}.example/")), Ok(()), "{ok}");
        }
        for bad in [
            "xn--zz",
            "xn--",
            "xn--abc-",
            "xn---kva",
            "xn--99999999999",
            "xn--a-",
        ] {
            assert_eq!(
                parse(&format!("https://{bad}.example/")),
                Err(Problem::Punycode),
                "{bad}"
            );
        }
        assert_eq!(
            punycode_decode("bcher-kva"),
            Some("bücher".chars().collect())
        );
    }
}
