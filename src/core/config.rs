//! Configuration: `TARGETS`, `INGEST_TOKENS`, `DEDUP_TTL_SECONDS`, `RETRY_SCHEDULE_SECONDS`,
//! `LOG_DELIVERIES`, validated once, up front. Every problem is collected and named
//! (`TARGETS[1] "crm": …`), never echoing a secret, so `/health` and the log say exactly what to
//! fix.

use crate::core::deliver::attempts;
use crate::core::deliver::retry::{RetryPolicy, MAX_DELAY_SECONDS};
use crate::core::deliver::sign::SigningKey;
use crate::core::ingest::auth::parse_tokens;
use crate::core::ingest::dedup;
use serde::Deserialize;
use serde_json::Value;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Where configuration comes from: Worker vars and secrets by name (the edge implements it;
/// tests use a map). Values are text; `TARGETS` arrives as JSON text.
pub trait Source {
    fn text(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn text(&self, name: &str) -> Option<String> {
        self(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Structured CloudEvents JSON (`application/cloudevents+json`).
    Cloudevents,
    /// Binary CloudEvents: `ce-*` headers, body = `data`.
    CloudeventsBinary,
    /// BigCommerce's original callback body, byte for byte.
    Bigcommerce,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cloudevents => "cloudevents",
            Format::CloudeventsBinary => "cloudevents-binary",
            Format::Bigcommerce => "bigcommerce",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub stores: Option<Vec<String>>,
    pub format: Format,
    pub signing: Option<SigningKey>,
    /// Extra headers, secrets already resolved.
    pub headers: Vec<(String, String)>,
    /// Name of the secret holding the signing key (for the admin view; never the key).
    pub signing_secret: Option<String>,
    /// Header names with where their value comes from: `secret:NAME` or `static`.
    pub header_sources: Vec<(String, String)>,
    pub timeout_ms: u32,
    pub max_attempts: u32,
    /// Fetch the B2B resource into `data` before delivery.
    pub enrich: bool,
    /// Never deliver without the resource: retry, then dead-letter.
    pub enrich_required: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub ingest_tokens: Vec<String>,
    pub targets: Vec<Target>,
    pub dedup_ttl_seconds: u64,
    pub retry: RetryPolicy,
    /// `BC_B2B_API_BASE`, without a trailing slash.
    pub b2b_api_base: String,
    pub log_deliveries: attempts::Mode,
}

impl Config {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// One entry of `TARGETS` as written by the operator. Unknown keys are errors: a typo such as
/// `event` for `events` must not silently route everything.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    name: String,
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    stores: Option<Vec<String>>,
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    signing_secret: Option<String>,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    timeout_ms: Option<u32>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    enrich: bool,
    #[serde(default)]
    enrich_required: bool,
}

/// Headers the relay sets itself; a target may not override them.
const RESERVED_HEADERS: [&str; 7] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

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

fn valid_glob(g: &str) -> bool {
    !g.is_empty()
        && g.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*._-".contains(&b))
}

fn secret(src: &dyn Source, name: &str, what: &str, errors: &mut Vec<String>) -> Option<String> {
    match src.text(name).filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(v),
        None => {
            errors.push(format!("{what}: secret `{name}` is not set"));
            None
        }
    }
}

fn target(index: usize, raw: Value, src: &dyn Source, errors: &mut Vec<String>) -> Option<Target> {
    let label = match raw.get("name").and_then(Value::as_str) {
        Some(n) => format!("TARGETS[{index}] \"{n}\""),
        None => format!("TARGETS[{index}]"),
    };
    // Read from text, not with `from_value`: that second deserializer cost ~8 KB of wasm
    // (BENCHMARKS.md). The message is serde's without the position in this re-encoded text.
    let spec: TargetSpec =
        match serde_json::to_string(&raw).and_then(|text| serde_json::from_str(&text)) {
            Ok(s) => s,
            Err(e) => {
                let position = format!(" at line {} column {}", e.line(), e.column());
                let message = e.to_string();
                let message = message.strip_suffix(&position).unwrap_or(&message);
                errors.push(format!("{label}: {message}"));
                return None;
            }
        };
    let before = errors.len();
    if !valid_name(&spec.name) {
        errors.push(format!(
            "{label}: name must be 1-64 characters of a-z, 0-9 and -"
        ));
    }
    if let Err(e) = check_url(&spec.url) {
        errors.push(format!("{label}: {e}"));
    }
    let events = spec.events.unwrap_or_else(|| vec!["*".into()]);
    if events.is_empty() {
        errors.push(format!(
            "{label}: events is empty, so nothing would be delivered; omit it for all events"
        ));
    }
    for g in events.iter().filter(|g| !valid_glob(g)) {
        errors.push(format!(
            "{label}: event pattern `{g}` may only use letters, digits, `.`, `_`, `-` and `*`"
        ));
    }
    if let Some(stores) = &spec.stores {
        if stores.is_empty()
            || stores
                .iter()
                .any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            errors.push(format!(
                "{label}: stores must be a non-empty list of store hashes"
            ));
        }
    }
    let signing = spec.signing_secret.as_deref().and_then(|name| {
        let value = secret(src, name, &label, errors)?;
        SigningKey::from_secret(&value)
            .map_err(|e| errors.push(format!("{label}: signing secret `{name}` {e}")))
            .ok()
    });
    let mut headers = Vec::new();
    let mut header_sources = Vec::new();
    for (name, value) in spec.headers.unwrap_or_default() {
        let lower = name.to_ascii_lowercase();
        if !valid_header_name(&name) {
            errors.push(format!(
                "{label}: header name `{name}` is not a valid HTTP header name"
            ));
            continue;
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("ce-") {
            errors.push(format!(
                "{label}: header `{name}` is set by the relay and cannot be overridden"
            ));
            continue;
        }
        let Value::String(value) = value else {
            errors.push(format!("{label}: header `{name}` must be a string"));
            continue;
        };
        let source = match value.strip_prefix("secret:") {
            Some(secret_name) => format!("secret:{secret_name}"),
            None => "static".to_owned(),
        };
        let value = match value.strip_prefix("secret:") {
            Some(secret_name) => match secret(src, secret_name, &label, errors) {
                Some(v) => v,
                None => continue,
            },
            None => value,
        };
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            errors.push(format!(
                "{label}: header `{name}` has a line break in its value"
            ));
            continue;
        }
        header_sources.push((lower.clone(), source));
        headers.push((lower, value));
    }
    let timeout_ms = spec.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(100..=120_000).contains(&timeout_ms) {
        errors.push(format!(
            "{label}: timeout_ms must be between 100 and 120000"
        ));
    }
    let max_attempts = spec.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=100).contains(&max_attempts) {
        errors.push(format!("{label}: max_attempts must be between 1 and 100"));
    }
    let format = spec.format.unwrap_or(Format::Cloudevents);
    let enrich = spec.enrich || spec.enrich_required;
    if enrich && format == Format::Bigcommerce {
        errors.push(format!("{label}: enrich cannot be used with format \"bigcommerce\", which forwards BigCommerce's body unchanged"));
    }
    (errors.len() == before).then_some(Target {
        name: spec.name,
        url: spec.url,
        events,
        stores: spec.stores,
        format,
        signing,
        signing_secret: spec.signing_secret,
        headers,
        header_sources,
        timeout_ms,
        max_attempts,
        enrich,
        enrich_required: spec.enrich_required,
    })
}

fn targets(src: &dyn Source, errors: &mut Vec<String>) -> Vec<Target> {
    let Some(text) = src.text("TARGETS").filter(|t| !t.trim().is_empty()) else {
        return Vec::new();
    };
    let list = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(list)) => list,
        Ok(_) => {
            errors.push("TARGETS: must be an array of targets".into());
            return Vec::new();
        }
        Err(e) => {
            errors.push(format!("TARGETS: not valid JSON ({e})"));
            return Vec::new();
        }
    };
    let out: Vec<Target> = list
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| target(i, raw, src, errors))
        .collect();
    for (i, t) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == t.name) {
            errors.push(format!(
                "TARGETS: name \"{}\" is used more than once",
                t.name
            ));
        }
    }
    out
}

fn ttl(src: &dyn Source, errors: &mut Vec<String>) -> u64 {
    match src.text("DEDUP_TTL_SECONDS").map(|s| s.trim().to_owned()) {
        None => dedup::DEFAULT_TTL_SECONDS,
        Some(s) if s.is_empty() => dedup::DEFAULT_TTL_SECONDS,
        Some(s) => match s.parse::<u64>() {
            Ok(v) if v >= dedup::MIN_TTL_SECONDS => v,
            _ => {
                errors.push(format!(
                    "DEDUP_TTL_SECONDS: must be a whole number of seconds, at least {}",
                    dedup::MIN_TTL_SECONDS
                ));
                dedup::DEFAULT_TTL_SECONDS
            }
        },
    }
}

fn retry(src: &dyn Source, errors: &mut Vec<String>) -> RetryPolicy {
    let Some(text) = src
        .text("RETRY_SCHEDULE_SECONDS")
        .filter(|t| !t.trim().is_empty())
    else {
        return RetryPolicy::default();
    };
    let parsed: Result<Vec<u32>, _> = text.split(',').map(|p| p.trim().parse::<u32>()).collect();
    match parsed {
        Ok(s) if s.iter().all(|&d| d <= MAX_DELAY_SECONDS) => RetryPolicy { schedule: Some(s) },
        _ => {
            errors.push(format!(
                "RETRY_SCHEDULE_SECONDS: must be comma-separated whole seconds, each at most {MAX_DELAY_SECONDS}"
            ));
            RetryPolicy::default()
        }
    }
}

fn log_deliveries(src: &dyn Source, errors: &mut Vec<String>) -> attempts::Mode {
    let text = src.text("LOG_DELIVERIES").unwrap_or_default();
    attempts::Mode::parse(&text).unwrap_or_else(|| {
        errors.push(format!("LOG_DELIVERIES: must be {}", attempts::Mode::NAMES));
        attempts::Mode::default()
    })
}

/// Reads and checks everything. `Err` lists every problem found, by name.
pub fn load(src: &dyn Source) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let ingest_tokens = src
        .text("INGEST_TOKENS")
        .map(|t| parse_tokens(&t))
        .unwrap_or_default();
    if ingest_tokens.is_empty() {
        errors.push("INGEST_TOKENS: secret is not set (comma-separated bearer tokens)".into());
    }
    let targets = targets(src, &mut errors);
    let dedup_ttl_seconds = ttl(src, &mut errors);
    let retry = retry(src, &mut errors);
    let log_deliveries = log_deliveries(src, &mut errors);
    let b2b_api_base = src
        .text("BC_B2B_API_BASE")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| crate::core::deliver::enrich::DEFAULT_API_BASE.into())
        .trim()
        .trim_end_matches('/')
        .to_owned();
    if let Err(e) = check_url(&b2b_api_base) {
        errors.push(format!("BC_B2B_API_BASE: {e}"));
    }
    if errors.is_empty() {
        Ok(Config {
            ingest_tokens,
            targets,
            dedup_ttl_seconds,
            retry,
            b2b_api_base,
            log_deliveries,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn src(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    fn errors(targets: &str, extra: &[(&str, &str)]) -> Vec<String> {
        let mut pairs = vec![("INGEST_TOKENS", "t"), ("TARGETS", targets)];
        pairs.extend_from_slice(extra);
        load(&src(&pairs)).err().unwrap_or_default()
    }

    #[test]
    fn a_full_target_loads_with_defaults_and_secrets() {
        let s = src(&[
            ("INGEST_TOKENS", "a,b"),
            (
                "TARGETS",
                r#"[{"name":"crm","url":"https://crm.example.com/hooks","signing_secret":"CRM_KEY","headers":{"X-Api-Key":"secret:CRM_API_KEY","X-Team":"b2b"}},
                           {"name":"erp","url":"http://127.0.0.1:9000/","events":["quote.*"],"stores":["abc"],"format":"bigcommerce","timeout_ms":500,"max_attempts":3}]"#,
            ),
            ("CRM_KEY", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ("CRM_API_KEY", "k-123"),
        ]);
        let c = load(&s).unwrap();
        assert_eq!(c.ingest_tokens, ["a", "b"]);
        assert_eq!(c.dedup_ttl_seconds, 259_200);
        let crm = c.target("crm").unwrap();
        assert_eq!(crm.events, ["*"]);
        assert_eq!(crm.format, Format::Cloudevents);
        assert!(crm.signing.is_some());
        assert_eq!(
            crm.headers,
            [
                ("x-api-key".to_owned(), "k-123".to_owned()),
                ("x-team".to_owned(), "b2b".to_owned())
            ]
        );
        assert_eq!((crm.timeout_ms, crm.max_attempts), (10_000, 8));
        assert!(!crm.enrich && !crm.enrich_required);
        assert_eq!(c.b2b_api_base, "https://api-b2b.bigcommerce.com/api/v3/io");
        let erp = c.target("erp").unwrap();
        assert_eq!(
            (erp.format, erp.timeout_ms, erp.max_attempts),
            (Format::Bigcommerce, 500, 3)
        );
    }

    #[test]
    fn enrich_required_implies_enrich_but_not_with_bigcommerce_format() {
        let c = load(&src(&[
            ("INGEST_TOKENS", "t"),
            ("BC_B2B_API_BASE", "http://127.0.0.1:9/api/"),
            (
                "TARGETS",
                r#"[{"name":"a","url":"https://x","enrich_required":true}]"#,
            ),
        ]))
        .unwrap();
        assert!(c.targets[0].enrich && c.targets[0].enrich_required);
        assert_eq!(c.b2b_api_base, "http://127.0.0.1:9/api");
        assert_eq!(
            c.log_deliveries,
            crate::core::deliver::attempts::Mode::Batch
        );
        let e = errors(
            r#"[{"name":"a","url":"https://x","enrich":true,"format":"bigcommerce"}]"#,
            &[],
        );
        assert!(e[0].contains("enrich cannot be used"), "{e:?}");
        let e = errors("[]", &[("BC_B2B_API_BASE", "http://api.example.com")]);
        assert!(e[0].starts_with("BC_B2B_API_BASE"), "{e:?}");
    }

    #[test]
    fn no_targets_is_valid() {
        assert!(load(&src(&[("INGEST_TOKENS", "t")]))
            .unwrap()
            .targets
            .is_empty());
    }

    #[test]
    fn each_mistake_is_named() {
        let cases: [(&str, &str); 14] = [
            ("{", "not valid JSON"),
            (r#"{"name":"a"}"#, "must be an array"),
            (
                r#"[{"name":"a","url":"https://x"},{"name":"a","url":"https://y"}]"#,
                "\"a\" is used more than once",
            ),
            (
                r#"[{"name":"Bad_Name","url":"https://x"}]"#,
                "TARGETS[0] \"Bad_Name\": name must be",
            ),
            (
                r#"[{"name":"a","url":"http://crm.example.com"}]"#,
                "must use https",
            ),
            (
                r#"[{"name":"a","url":"ftp://x"}]"#,
                "must start with https://",
            ),
            (r#"[{"name":"a","url":"https://u:p@x"}]"#, "credentials"),
            (
                r#"[{"name":"a","url":"https://x","format":"xml"}]"#,
                "unknown variant `xml`",
            ),
            (
                r#"[{"name":"a","url":"https://x","event":["*"]}]"#,
                "unknown field `event`",
            ),
            (
                r#"[{"name":"a","url":"https://x","signing_secret":"NOPE"}]"#,
                "secret `NOPE` is not set",
            ),
            (
                r#"[{"name":"a","url":"https://x","headers":{"X-K":"secret:NOPE"}}]"#,
                "secret `NOPE` is not set",
            ),
            (
                r#"[{"name":"a","url":"https://x","headers":{"webhook-id":"1"}}]"#,
                "set by the relay",
            ),
            (
                r#"[{"name":"a","url":"https://x","events":[]}]"#,
                "events is empty",
            ),
            (r#"[{"url":"https://x"}]"#, "missing field `name`"),
        ];
        for (targets, want) in cases {
            let e = errors(targets, &[]);
            assert!(e.iter().any(|m| m.contains(want)), "{targets}: {e:?}");
        }
    }

    #[test]
    fn bad_secrets_and_settings_are_named_without_echo() {
        let e = errors(
            r#"[{"name":"a","url":"https://x","signing_secret":"K"}]"#,
            &[
                ("K", "not-a-whsec-secret"),
                ("DEDUP_TTL_SECONDS", "30"),
                ("RETRY_SCHEDULE_SECONDS", "1,x"),
                ("LOG_DELIVERIES", "verbose"),
            ],
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("signing secret `K` must start with `whsec_`"));
        assert!(e.iter().all(|m| !m.contains("not-a-whsec-secret")));
        assert!(e[1].starts_with("DEDUP_TTL_SECONDS"));
        assert!(e[2].starts_with("RETRY_SCHEDULE_SECONDS"));
        assert_eq!(e[3], "LOG_DELIVERIES: must be batch, each or failures");
        let none = load(&src(&[])).unwrap_err();
        assert!(none[0].starts_with("INGEST_TOKENS"));
    }

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
