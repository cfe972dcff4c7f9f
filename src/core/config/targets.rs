//! `TARGETS`: where events go, in which format, signed with which key, with which extra
//! headers. Each entry is checked on its own and every problem is named by its index and name.

use super::url::check_url;
use super::Source;
use crate::core::deliver::lane::{take_lane_config, LaneConfig};
use crate::core::deliver::presets::Preset;
use crate::core::deliver::sign::SigningKey;
use crate::core::deliver::template::{self, Template};
use crate::core::json::Fields;
use crate::core::route::filter::{self, Filter};
use crate::core::route::path::Needs;
use crate::core::secret::Secret;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Structured CloudEvents JSON (`application/cloudevents+json`).
    Cloudevents,
    /// Binary CloudEvents: `ce-*` headers, body = `data`.
    CloudeventsBinary,
    /// BigCommerce's original callback body, byte for byte.
    Bigcommerce,
    /// The target's own JSON `template`, placeholders filled from the event.
    Template,
    /// Chat presets: readable messages in each vendor's incoming-webhook shape.
    Slack,
    Teams,
    Discord,
    GoogleChat,
}

/// Read as a string and matched by name (a derived enum visitor was ~2 KB of wasm); serde's
/// words for an unknown name.
impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &FORMAT_NAMES))
    }
}

const FORMAT_NAMES: [&str; 8] = [
    "cloudevents",
    "cloudevents-binary",
    "bigcommerce",
    "template",
    "slack",
    "teams",
    "discord",
    "google-chat",
];

impl Format {
    const ALL: [Format; 8] = [
        Format::Cloudevents,
        Format::CloudeventsBinary,
        Format::Bigcommerce,
        Format::Template,
        Format::Slack,
        Format::Teams,
        Format::Discord,
        Format::GoogleChat,
    ];

    pub fn as_str(self) -> &'static str {
        // The variants are declared in FORMAT_NAMES' order.
        FORMAT_NAMES[self as usize]
    }

    /// The chat preset a format names (a match, not a lookup by name: no string compares).
    pub fn preset(self) -> Option<Preset> {
        match self {
            Format::Slack => Some(Preset::Slack),
            Format::Teams => Some(Preset::Teams),
            Format::Discord => Some(Preset::Discord),
            Format::GoogleChat => Some(Preset::GoogleChat),
            _ => None,
        }
    }
}

/// How a target's body is shaped and which events it takes beyond type and store: compiled at
/// load, so a mistake is a configuration error by name, never a surprise at delivery.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// `format = "template"`: the compiled `template`.
    pub template: Option<Template>,
    /// `content_type` of a template's body.
    pub content_type: Option<String>,
    /// `where`: the content filter.
    pub filter: Option<Filter>,
    /// What the template and the filter read of an event, so only that is built per delivery.
    pub needs: Needs,
    /// `template` and `where` as written, for the admin view.
    /// (`where` as written is `filter`'s source.)
    pub template_source: Option<Value>,
    /// `PUBLIC_URL`, for the console links of chat presets.
    pub public_url: Option<String>,
}

/// An extra header's value: written in `TARGETS`, or read from the secret it names
/// (`secret:NAME`), which no `Debug` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Static(String),
    Secret { name: String, value: Secret },
}

impl HeaderValue {
    /// The value itself, for the request that sends it.
    pub fn expose(&self) -> &str {
        match self {
            HeaderValue::Static(v) => v,
            HeaderValue::Secret { value, .. } => value.expose(),
        }
    }

    /// Where the value comes from, for the admin view: `secret:NAME` or `static`.
    pub fn source(&self) -> Cow<'_, str> {
        match self {
            HeaderValue::Static(_) => Cow::Borrowed("static"),
            HeaderValue::Secret { name, .. } => Cow::Owned(format!("secret:{name}")),
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
    /// Extra headers (lowercase names), secrets already resolved.
    pub headers: Vec<(String, HeaderValue)>,
    /// Name of the secret holding the signing key (for the admin view; never the key).
    pub signing_secret: Option<String>,
    pub timeout_ms: u32,
    pub max_attempts: u32,
    /// Fetch the B2B resource into `data` before delivery.
    pub enrich: bool,
    /// Never deliver without the resource: retry, then dead-letter.
    pub enrich_required: bool,
    /// Breaker, rate limit, in-flight cap, auto-disable (`deliver::lane`).
    pub lane: LaneConfig,
    pub shape: Shape,
}

/// One entry of `TARGETS` as written by the operator. Unknown keys are errors: a typo such as
/// `event` for `events` must not silently route everything.
struct TargetSpec {
    name: String,
    url: String,
    events: Option<Vec<String>>,
    stores: Option<Vec<String>>,
    format: Option<Format>,
    signing_secret: Option<String>,
    headers: Option<serde_json::Map<String, Value>>,
    timeout_ms: Option<u32>,
    max_attempts: Option<u32>,
    enrich: bool,
    enrich_required: bool,
    template: Option<Value>,
    content_type: Option<String>,
    filter: Option<Value>,
}

/// The keys of a target (the lane's are taken out before): anything else is a typo.
const SPEC_FIELDS: [&str; 14] = [
    "name",
    "url",
    "events",
    "stores",
    "format",
    "signing_secret",
    "headers",
    "timeout_ms",
    "max_attempts",
    "enrich",
    "enrich_required",
    "template",
    "content_type",
    "where",
];

impl TargetSpec {
    /// Field by field (`json::Fields`), with serde's words for what is wrong: a derived
    /// visitor here was ~6 KB of wasm.
    fn read(json: &str) -> Result<TargetSpec, String> {
        let f = Fields::parse(json)?;
        f.only(&SPEC_FIELDS)?;
        Ok(TargetSpec {
            name: f.get("name")?,
            url: f.get("url")?,
            events: f.opt("events")?,
            stores: f.opt("stores")?,
            format: f.opt("format")?,
            signing_secret: f.opt("signing_secret")?,
            headers: f.opt("headers")?,
            timeout_ms: f.opt_whole("timeout_ms")?,
            max_attempts: f.opt_whole("max_attempts")?,
            enrich: f.or_default("enrich")?,
            enrich_required: f.or_default("enrich_required")?,
            template: f.opt("template")?,
            content_type: f.opt("content_type")?,
            filter: f.opt("where")?,
        })
    }
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

fn valid_glob(g: &str) -> bool {
    !g.is_empty()
        && g.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*._-".contains(&b))
}

fn secret(src: &dyn Source, name: &str, what: &str, errors: &mut Vec<String>) -> Option<Secret> {
    match src.text(name).filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(Secret::new(v)),
        None => {
            errors.push(format!("{what}: secret `{name}` is not set"));
            None
        }
    }
}

fn target(
    index: usize,
    mut raw: Value,
    src: &dyn Source,
    errors: &mut Vec<String>,
) -> Option<Target> {
    let label = match raw.get("name").and_then(Value::as_str) {
        Some(n) => format!("TARGETS[{index}] \"{n}\""),
        None => format!("TARGETS[{index}]"),
    };
    let lane = take_lane_config(&mut raw).unwrap_or_else(|e| {
        errors.extend(e.into_iter().map(|e| format!("{label}: {e}")));
        LaneConfig::default()
    });
    // Read from text, not with `from_value`: that second deserializer cost ~8 KB of wasm
    // (BENCHMARKS.md). Messages are serde's, without a position (`json::Fields`).
    let spec = match serde_json::to_string(&raw)
        .map_err(|e| e.to_string())
        .and_then(|text| TargetSpec::read(&text))
    {
        Ok(s) => s,
        Err(message) => {
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
        SigningKey::from_secret(value.expose())
            .map_err(|e| errors.push(format!("{label}: signing secret `{name}` {e}")))
            .ok()
    });
    let mut headers = Vec::new();
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
        let value = match value.strip_prefix("secret:") {
            Some(secret_name) => match secret(src, secret_name, &label, errors) {
                Some(v) => HeaderValue::Secret {
                    name: secret_name.to_owned(),
                    value: v,
                },
                None => continue,
            },
            None => HeaderValue::Static(value),
        };
        if value
            .expose()
            .bytes()
            .any(|b| b == b'\r' || b == b'\n' || b == 0)
        {
            errors.push(format!(
                "{label}: header `{name}` has a line break in its value"
            ));
            continue;
        }
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
    let shape = shape(
        &label,
        format,
        enrich,
        spec.template,
        spec.content_type,
        spec.filter,
        errors,
    );
    (errors.len() == before).then_some(Target {
        name: spec.name,
        url: spec.url,
        events,
        stores: spec.stores,
        format,
        signing,
        signing_secret: spec.signing_secret,
        headers,
        timeout_ms,
        max_attempts,
        enrich,
        enrich_required: spec.enrich_required,
        lane,
        shape,
    })
}

/// `template`, `content_type` and `where`, checked against the format and `enrich`.
fn shape(
    label: &str,
    format: Format,
    enrich: bool,
    template_source: Option<Value>,
    content_type: Option<String>,
    where_source: Option<Value>,
    errors: &mut Vec<String>,
) -> Shape {
    let mut shape = Shape::default();
    match (&template_source, format) {
        (Some(t), Format::Template) => {
            let compiled = match t {
                Value::String(text) => template::compile_text(text, enrich),
                other => template::compile(other, enrich),
            };
            match compiled {
                Ok(t) => {
                    shape.needs.merge(&t.needs());
                    shape.template = Some(t);
                }
                Err(e) => errors.push(format!("{label}: `template`: {e}")),
            }
        }
        (None, Format::Template) => {
            errors.push(format!("{label}: format \"template\" needs a `template`"))
        }
        (Some(_), _) => errors.push(format!(
            "{label}: `template` is only used with format \"template\""
        )),
        (None, _) => {}
    }
    if let Some(ct) = content_type {
        if format != Format::Template {
            errors.push(format!(
                "{label}: `content_type` is only used with format \"template\""
            ));
        } else if let Err(e) = template::check_content_type(&ct) {
            errors.push(format!("{label}: `content_type`: {e}"));
        } else {
            shape.content_type = Some(ct);
        }
    }
    if let Some(w) = where_source {
        match filter::compile_owned(w) {
            Ok(f) if f.needs_enrichment() && !enrich => errors.push(format!(
                "{label}: `where` reads enriched fields (data.resource…): set enrich = true"
            )),
            Ok(f) => {
                shape.needs.merge(&f.needs());
                shape.filter = Some(f);
            }
            Err(e) => errors.push(format!("{label}: `where`: {e}")),
        }
    }
    shape.template_source = template_source;
    shape
}

pub(super) fn targets(src: &dyn Source, errors: &mut Vec<String>) -> Vec<Target> {
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

#[cfg(test)]
mod tests {
    use super::super::testing::{errors, src};
    use super::*;
    use crate::core::config::load;

    #[test]
    fn every_format_reads_by_its_name() {
        for f in Format::ALL {
            let read: Format = serde_json::from_str(&format!("\"{}\"", f.as_str())).unwrap();
            assert_eq!(read, f);
        }
        let e = serde_json::from_str::<Format>("\"xml\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unknown variant `xml`, expected one of `cloudevents`"),
            "{e}"
        );
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
        let tokens: Vec<&str> = c.auth.tokens().iter().map(Secret::expose).collect();
        assert_eq!(tokens, ["a", "b"]);
        assert_eq!(c.dedup_ttl_seconds, 259_200);
        let crm = c.target("crm").unwrap();
        assert_eq!(crm.events, ["*"]);
        assert_eq!(crm.format, Format::Cloudevents);
        assert!(crm.signing.is_some());
        assert_eq!(
            crm.headers,
            [
                (
                    "x-api-key".to_owned(),
                    HeaderValue::Secret {
                        name: "CRM_API_KEY".into(),
                        value: Secret::new("k-123")
                    }
                ),
                ("x-team".to_owned(), HeaderValue::Static("b2b".into()))
            ]
        );
        let sent: Vec<(&str, &str, _)> = crm
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose(), v.source()))
            .collect();
        assert_eq!(
            sent,
            [
                ("x-api-key", "k-123", "secret:CRM_API_KEY".into()),
                ("x-team", "b2b", "static".into())
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
    fn lane_settings_load_and_are_named_when_wrong() {
        let c = load(&src(&[
            ("INGEST_TOKENS", "t"),
            (
                "TARGETS",
                r#"[{"name":"a","url":"https://x","rate_limit":"5/s","breaker_failures":3,"breaker_seconds":2,"disable_after_hours":0.01,"max_in_flight":2,"timeout_ms":500}]"#,
            ),
        ]))
        .unwrap();
        let lane = c.targets[0].lane;
        assert_eq!(
            lane.rate_limit.map(|l| l.to_string()).as_deref(),
            Some("5/s")
        );
        assert_eq!(
            (
                lane.breaker_failures,
                lane.breaker_seconds,
                lane.max_in_flight
            ),
            (3, 2, Some(2))
        );
        assert_eq!((lane.disable_after_ms, lane.timeout_ms), (36_000, 500));
        let e = errors(
            r#"[{"name":"a","url":"https://x","rate_limit":"5/d"},{"name":"b","url":"https://x","rate_limt":"5/s"}]"#,
            &[],
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(
            e[0],
            "TARGETS[0] \"a\": rate_limit period unit must be s, m or h"
        );
        assert!(e[1].contains("unknown field `rate_limt`"), "{e:?}");
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
}
