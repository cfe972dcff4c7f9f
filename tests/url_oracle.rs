//! The relay's URL rules (`core::config::url`) against the `url` crate, which implements the
//! WHATWG URL standard the Workers runtime's `fetch` follows: every URL the relay accepts must
//! be one that parser accepts, with the same host (up to ASCII case) and port, no credentials,
//! and plain http only to a loopback host (the oracle is the fuzz targets', shared). Hosts are
//! built from pieces that parsers disagree about: digits, dots, hyphens, `xn--` labels,
//! Unicode, brackets, percent signs, empty and long labels; then many random mixes of them (a
//! fixed seed, so every run tests the same set).

#[path = "../fuzz/fuzz_targets/oracle.rs"]
mod oracle;

use b2b_relay::core::config::url as rules;

#[rustfmt::skip]
const LABELS: &[&str] = &[
    "a", "A", "z9", "0", "1", "00", "08", "012", "127", "255", "256", "999", "4294967295",
    "4294967296", "0x7f", "0X7F", "0x", "0xg", "1e5", "-", "a-", "-a", "a--b", "ab--c", "_",
    "a_b", "xn--", "xn--zz", "xn--a", "xn--a-", "xn---kva", "xn--bcher-kva", "XN--BCHER-KVA",
    "xn--zca", "xn--strae-oqa", "xn--mnchen-3ya", "xn--nxasmq6b", "xn--xn--kva", "xn--ls8h",
    "xn--9ca", "xn--0ca", "xn--1ca", "xn--zz-", "xn--a-ecp", "xn--99999999999", "localhost",
    "LocalHost", "example", "com", "ü", "é", "ß", "Ä", "ǅ", "ﬁ", "a\u{301}", "\u{fffd}",
    "\u{200d}", "a\u{3002}b", "a\u{ff0e}b", "％41", "%41", "%", "%2e", "a%2eb", "[", "]", "[::1]",
    "::1", "^", "*", "!", "$", "~", "=", "+", "'", ",", ";", "\\", "|", "<", "\"", "{", "`", "",
];

#[rustfmt::skip]
const IPV6: &[&str] = &[
    "::1", "::", "1::", "::2", "0:0::1", "0:0:0:0:0:0:0:1", "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4", "::ffff:01.2.3.4", "::1.2.3", "::ffff:127.0.0.1",
    "fe80::1%25eth0", "1::2::3", "12345::", "abcd::", "ABCD::EF", "g::", ":1::", "1:", "",
    "::ffff:1.2.3.4.5", "1:2:3:4:5:6:1.2.3.4", "[::1]",
];

#[rustfmt::skip]
const PORTS: &[&str] = &[
    "", ":443", ":1", ":0", ":65535", ":65536", ":", ":+1", ":080", ":1a", ":99999999999",
];

const TAILS: &[&str] = &["", "/", "/x?y#z", "?q", "#f", "/a b", "\\x", "/%zz"];

/// Checks every scheme, userinfo, port and tail around `host`, counting what the rules accept.
fn around(host: &str, accepted: &mut usize, total: &mut usize) {
    for scheme in ["https://", "http://"] {
        for userinfo in ["", "u@", "u:p@"] {
            for port in PORTS {
                for tail in TAILS {
                    let u = format!("{scheme}{userinfo}{host}{port}{tail}");
                    *total += 1;
                    *accepted += usize::from(oracle::check(&u));
                }
            }
        }
    }
}

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

#[test]
fn every_url_the_relay_accepts_the_whatwg_parser_accepts_as_written() {
    let (mut accepted, mut total) = (0, 0);
    // Every label alone, with a suffix, and as a suffix; every IPv6 text in brackets.
    for l in LABELS {
        for host in [
            l.to_string(),
            format!("{l}.example"),
            format!("a.{l}"),
            format!("{l}."),
        ] {
            around(&host, &mut accepted, &mut total);
        }
    }
    for a in IPV6 {
        around(&format!("[{a}]"), &mut accepted, &mut total);
    }
    for (n, len) in [(1, 63), (1, 64), (4, 63), (5, 50), (3, 84)] {
        around(
            &vec!["a".repeat(len); n].join("."),
            &mut accepted,
            &mut total,
        );
    }
    // Random mixes: 1-4 labels of 1-3 pieces each, and random bytes of a small alphabet.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    #[rustfmt::skip]
    const CHARS: &[&str] = &[
        "a", "x", "n", "-", "-", ".", "0", "9", "_", "%", "[", "]", ":", "é", "ß", "K", "z",
    ];
    for _ in 0..4000 {
        let labels: Vec<String> = (0..1 + rng.next() % 4)
            .map(|_| (0..1 + rng.next() % 3).map(|_| rng.pick(LABELS)).collect())
            .collect();
        let host = labels.join(".");
        let u = format!(
            "{}{host}{}/",
            rng.pick(&["https://", "http://"]),
            rng.pick(PORTS)
        );
        total += 1;
        accepted += usize::from(oracle::check(&u));
        let junk: String = (0..rng.next() % 14).map(|_| rng.pick(CHARS)).collect();
        for host in [junk.clone(), format!("xn--{junk}")] {
            let u = format!("https://{host}/");
            total += 1;
            accepted += usize::from(oracle::check(&u));
        }
    }
    // The rules must not refuse everything: many of these are fine URLs.
    assert!(accepted > 2000, "{accepted} of {total} accepted");
}

/// The other way round, for plain names: what the parser keeps exactly as written (lowercase
/// ASCII, no IPv4 reading) the relay accepts too, unless it breaks a DNS length limit.
#[test]
fn the_relay_refuses_no_plain_name_the_parser_keeps() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    const CHARS: &[&str] = &["a", "b", "x", "n", "-", "-", ".", "0", "7", "_", "k", "v"];
    for _ in 0..20_000 {
        let host: String = (0..1 + rng.next() % 16).map(|_| rng.pick(CHARS)).collect();
        let u = format!("https://{host}/");
        let Ok(parsed) = url::Url::parse(&u) else {
            continue;
        };
        let kept = matches!(parsed.host(), Some(url::Host::Domain(d)) if d == host);
        let dns_ok = host
            .strip_suffix('.')
            .unwrap_or(&host)
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63);
        if kept && dns_ok {
            assert!(
                rules::parse(&u).is_ok(),
                "{u:?} refused, the parser keeps it"
            );
        }
    }
}

#[test]
fn punycode_examples_are_what_the_parser_writes() {
    for (unicode, ascii) in [
        ("bücher", "xn--bcher-kva"),
        ("straße", "xn--strae-oqa"),
        ("élan", "xn--lan-9la"),
    ] {
        let u = url::Url::parse(&format!("https://{unicode}.example/")).unwrap();
        assert_eq!(u.host_str(), Some(format!("{ascii}.example").as_str()));
        assert!(rules::parse(&format!("https://{ascii}.example/")).is_ok());
    }
}
