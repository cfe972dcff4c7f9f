//! Body templates (`format = "template"`): a JSON value whose strings may hold placeholders
//! `{{ path }}` into the structured CloudEvent, for receivers that want their own shape.
//!
//! - A string that is exactly one placeholder becomes the value with its JSON type
//!   (`"{{ data.company_id }}"` → `1234`); a missing path gives `null`.
//! - Placeholders inside a longer string are inserted as text: strings as they are, numbers and
//!   bools as their JSON text, objects and arrays as compact JSON; missing or `null` gives "".
//! - `{{ path ?? "text" }}` falls back when the value is missing or `null`; the fallback is any
//!   JSON scalar (`?? 0`, `?? false`), typed as such when it fills a whole string.
//! - `\{{` and `\}}` write literal braces; a `}}` outside a placeholder is refused as a typo.
//! - Object keys are literal: a key holding `{{` is refused rather than sent unreplaced.
//!
//! Compiling turns the template into literal JSON text with holes, so rendering is a walk over
//! a few slices and lookups; values are written with serde_json or escaped, never spliced in
//! raw, so the body is valid JSON whatever the event's data holds.

use crate::core::route::path::{check_size, shown, Needs, Path};
use serde_json::Value;

/// Compact JSON text of a template, at most: a body shape, not a document store.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Placeholders per template, at most: bounds the work per delivery.
pub const MAX_PLACEHOLDERS: usize = 256;
/// Nesting of arrays and objects, at most.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
struct Hole {
    path: Path,
    fallback: Option<Value>,
}

impl Hole {
    /// The value to write, `None` when there is none and no fallback either.
    fn resolve<'a>(&'a self, event: &'a Value) -> Option<&'a Value> {
        match self.path.get(event) {
            Some(Value::Null) | None => self.fallback.as_ref(),
            found => found,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// Literal JSON text (possibly the inside of a string).
    Raw(Vec<u8>),
    /// A string that is a whole placeholder: the value as JSON.
    Value(Hole),
    /// A placeholder inside a string: the value as escaped text.
    Text(Hole),
}

/// A checked template, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    ops: Vec<Op>,
    /// Bytes of literal text: the output's size when no placeholder writes anything.
    literal_len: usize,
    needs_enrichment: bool,
}

/// The `content_type` of a templated body, when the target does not set one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// Checks a target's `content_type` for a templated body: the body is always JSON, so a JSON
/// media type (`application/json`, `…/…+json`), parameters allowed (`; charset=utf-8`), and
/// nothing a header value cannot hold.
pub fn check_content_type(ct: &str) -> Result<(), String> {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (ty, sub) = essence.split_once('/').unwrap_or(("", ""));
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if ct.len() > 200 || ct.bytes().any(|b| b.is_ascii_control()) {
        return Err("content_type must be a short header value without control characters".into());
    }
    if !token(ty) || !token(sub) || !(sub == "json" || sub.ends_with("+json")) {
        return Err(format!(
            "content_type `{ct}`: a template always renders JSON, so use application/json or a `+json` type"
        ));
    }
    Ok(())
}

/// Reads a template given as JSON text (a `.dev.vars` or secret value, or a TOML string),
/// then compiles it. A template given as a table or array goes to `compile` directly.
pub fn compile_text(text: &str, enrich: bool) -> Result<Template, String> {
    if text.len() > MAX_TEMPLATE_BYTES * 4 {
        return Err(format!("template over {MAX_TEMPLATE_BYTES} bytes"));
    }
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("template is not valid JSON: {e}"))?;
    compile(&v, enrich)
}

/// Checks `template` and prepares it. `enrich` says whether the target's events are enriched:
/// without it, `data.resource`, `data.enrichment` and `data.enrichment_error` are refused,
/// since they would never be there. Errors name the place in the template (a JSON pointer).
pub fn compile(template: &Value, enrich: bool) -> Result<Template, String> {
    check_size(template, "template", MAX_DEPTH, MAX_TEMPLATE_BYTES)?;
    let mut b = Builder {
        ops: Vec::new(),
        raw: Vec::new(),
        literal_len: 0,
        holes: 0,
        enrich,
        needs_enrichment: false,
        pointer: String::new(),
    };
    b.value(template)?;
    b.flush();
    Ok(Template {
        ops: b.ops,
        literal_len: b.literal_len,
        needs_enrichment: b.needs_enrichment,
    })
}

struct Builder {
    ops: Vec<Op>,
    /// Literal JSON text not yet pushed as an `Op::Raw`.
    raw: Vec<u8>,
    literal_len: usize,
    holes: usize,
    enrich: bool,
    needs_enrichment: bool,
    /// Where the walk is, as a JSON pointer, for error messages.
    pointer: String,
}

impl Builder {
    fn flush(&mut self) {
        if !self.raw.is_empty() {
            self.literal_len += self.raw.len();
            self.ops.push(Op::Raw(std::mem::take(&mut self.raw)));
        }
    }

    fn at(&self, why: String) -> String {
        if self.pointer.is_empty() {
            why
        } else {
            format!("at `{}`: {why}", self.pointer)
        }
    }

    fn value(&mut self, v: &Value) -> Result<(), String> {
        let len = self.pointer.len();
        match v {
            Value::Null => self.raw.extend_from_slice(b"null"),
            Value::Bool(b) => self
                .raw
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => self.raw.extend_from_slice(n.to_string().as_bytes()),
            Value::String(s) => self.string(s)?,
            Value::Array(a) => {
                self.raw.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        self.raw.push(b',');
                    }
                    self.pointer.push('/');
                    self.pointer.push_str(&i.to_string());
                    self.value(x)?;
                    self.pointer.truncate(len);
                }
                self.raw.push(b']');
            }
            Value::Object(m) => {
                self.raw.push(b'{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        self.raw.push(b',');
                    }
                    self.pointer.push('/');
                    for c in k.chars() {
                        match c {
                            '~' => self.pointer.push_str("~0"),
                            '/' => self.pointer.push_str("~1"),
                            c => self.pointer.push(c),
                        }
                    }
                    if k.contains("{{") {
                        return Err(self.at(
                            "object keys are literal: placeholders are only replaced in values"
                                .into(),
                        ));
                    }
                    self.raw.push(b'"');
                    escape_into(&mut self.raw, k.as_bytes());
                    self.raw.extend_from_slice(b"\":");
                    self.value(x)?;
                    self.pointer.truncate(len);
                }
                self.raw.push(b'}');
            }
        }
        Ok(())
    }

    /// A template string: literal text and placeholders, in one pass.
    fn string(&mut self, s: &str) -> Result<(), String> {
        let b = s.as_bytes();
        let quote = self.raw.len();
        self.raw.push(b'"');
        let (mut i, mut run) = (0, 0);
        while i < b.len() {
            let rest = &b[i..];
            if rest.starts_with(b"\\{{") || rest.starts_with(b"\\}}") {
                escape_into(&mut self.raw, &b[run..i]);
                self.raw.extend_from_slice(&b[i + 1..i + 3]);
                i += 3;
                run = i;
            } else if rest.starts_with(b"{{") {
                escape_into(&mut self.raw, &b[run..i]);
                let (hole, end) = self.placeholder(s, i + 2)?;
                // A string that is one placeholder and nothing else keeps the value's type:
                // no quotes around it (only the opening one was written).
                if i == 0 && end == b.len() {
                    self.raw.truncate(quote);
                    self.flush();
                    self.ops.push(Op::Value(hole));
                    return Ok(());
                }
                self.flush();
                self.ops.push(Op::Text(hole));
                i = end;
                run = i;
            } else if rest.starts_with(b"}}") {
                return Err(self.at(format!(
                    "`}}}}` at byte {i} closes no placeholder (write `\\}}}}` for literal braces)"
                )));
            } else {
                i += 1;
            }
        }
        escape_into(&mut self.raw, &b[run..]);
        self.raw.push(b'"');
        Ok(())
    }

    /// A placeholder from byte `start` (just after `{{`), counted and checked against
    /// `enrich`; the byte after its `}}`.
    fn placeholder(&mut self, s: &str, start: usize) -> Result<(Hole, usize), String> {
        let (hole, path, end) = parse_placeholder(s, start).map_err(|e| self.at(e))?;
        self.holes += 1;
        if self.holes > MAX_PLACEHOLDERS {
            return Err(format!("more than {MAX_PLACEHOLDERS} placeholders"));
        }
        if hole.path.needs_enrichment() && hole.path.steps().len() > 1 {
            if !self.enrich {
                return Err(self.at(format!(
                    "`{path}` is only there on enriched events: set `enrich = true` on the target"
                )));
            }
            self.needs_enrichment = true;
        }
        Ok((hole, end))
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Reads `path [?? literal]` and the closing `}}` from byte `start` (just after `{{`);
/// returns the placeholder, its path as written and the byte after its `}}`.
fn parse_placeholder(s: &str, start: usize) -> Result<(Hole, &str, usize), String> {
    let b = s.as_bytes();
    let open = start - 2;
    let unterminated = || format!("placeholder opened at byte {open} is not closed with `}}}}`");
    let mut i = skip_ws(b, start);
    let path_start = i;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'}' && b[i] != b'?' {
        i += 1;
    }
    let path_text = &s[path_start..i];
    if path_text.is_empty() {
        return Err(if i >= b.len() {
            unterminated()
        } else {
            format!("empty placeholder at byte {open}")
        });
    }
    let path = Path::parse(path_text)?;
    i = skip_ws(b, i);
    let mut fallback = None;
    if b[i..].starts_with(b"??") {
        i = skip_ws(b, i + 2);
        let lit_start = i;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            if i >= b.len() {
                return Err(format!(
                    "fallback string at byte {lit_start} has no closing quote"
                ));
            }
            i += 1;
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'}' {
                i += 1;
            }
        }
        let text = &s[lit_start..i];
        let bad = || {
            format!(
                "bad fallback `{text}` at byte {lit_start}: write `?? \"text\"`, a number, true, false or null"
            )
        };
        match serde_json::from_str::<Value>(text) {
            Ok(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                fallback = Some(v);
            }
            _ => return Err(bad()),
        }
        i = skip_ws(b, i);
    } else if i < b.len() && b[i] == b'?' {
        return Err(format!(
            "bad fallback at byte {i}: write `{{{{ path ?? \"text\" }}}}`"
        ));
    }
    if b[i..].starts_with(b"}}") {
        Ok((Hole { path, fallback }, path_text, i + 2))
    } else if i >= b.len() {
        Err(unterminated())
    } else {
        Err(format!(
            "unexpected `{}` at byte {i} in the placeholder opened at byte {open}: expected `}}}}`",
            shown(b[i])
        ))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the UTF-8 text `s` escaped for the inside of a JSON string.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let mut run = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
}

impl Template {
    /// The body for `event`, the structured CloudEvent as a JSON object (see
    /// `route::path::event_value`). Always valid JSON.
    pub fn render(&self, event: &Value) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(self.literal_len + 16 * self.ops.len());
        for op in self.ops.iter() {
            match op {
                Op::Raw(s) => out.extend_from_slice(s),
                Op::Value(h) => match h.resolve(event) {
                    // Writing a Value into a Vec cannot fail.
                    Some(v) => {
                        let _ = serde_json::to_writer(&mut out, v);
                    }
                    None => out.extend_from_slice(b"null"),
                },
                Op::Text(h) => match h.resolve(event) {
                    Some(Value::String(s)) => escape_into(&mut out, s.as_bytes()),
                    Some(Value::Null) | None => {}
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                        let _ = serde_json::to_writer(&mut out, v);
                    }
                    Some(v) => {
                        let text = serde_json::to_vec(v).unwrap_or_default();
                        escape_into(&mut out, &text);
                    }
                },
            }
        }
        // Only UTF-8 went in: literal text, serde_json's output and escaped UTF-8 strings.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Whether any placeholder reads `data.resource`, `data.enrichment` or
    /// `data.enrichment_error` (only ever true when compiled with `enrich`).
    pub fn needs_enrichment(&self) -> bool {
        self.needs_enrichment
    }

    /// The parts of the event the template reads: render against `needs().pick(ev)` instead
    /// of the whole `event_value(ev)` to skip building what it ignores.
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        for op in self.ops.iter() {
            if let Op::Value(h) | Op::Text(h) = op {
                n.add(&h.path);
            }
        }
        n
    }

    /// How many placeholders the template has.
    pub fn placeholders(&self) -> usize {
        self.ops
            .iter()
            .filter(|op| !matches!(op, Op::Raw(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "specversion": "1.0",
            "id": "e41ea8cb",
            "type": "com.bigcommerce.company.created",
            "subject": "companies/1234",
            "time": "2025-11-28T00:00:00Z",
            "storehash": "abc123",
            "data": {
                "company_id": 1234,
                "resource": {"companyName": "Acme \"Quotes\" <&> Ltd", "companyStatus": 0,
                             "tags": ["a", "b"], "parent": {"id": 1}, "vip": true, "none": null},
                "enrichment": "ok"
            }
        })
    }

    fn render(t: Value) -> Value {
        let out = compile(&t, true).unwrap().render(&event());
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"))
    }

    fn err(t: Value, enrich: bool) -> String {
        compile(&t, enrich).unwrap_err()
    }

    #[test]
    fn a_whole_placeholder_keeps_the_type() {
        assert_eq!(
            render(json!({
                "id": "{{ data.company_id }}",
                "name": "{{data.resource.companyName}}",
                "status": "{{ data.resource.companyStatus }}",
                "tags": "{{ data.resource.tags }}",
                "parent": "{{ data.resource.parent }}",
                "vip": "{{ data.resource.vip }}",
                "missing": "{{ data.nope }}",
                "null": "{{ data.resource.none }}",
                "first": "{{ data.resource.tags[0] }}",
            })),
            json!({
                "id": 1234, "name": "Acme \"Quotes\" <&> Ltd", "status": 0,
                "tags": ["a", "b"], "parent": {"id": 1}, "vip": true,
                "missing": null, "null": null, "first": "a",
            })
        );
    }

    #[test]
    fn placeholders_in_text_are_text() {
        assert_eq!(
            render(json!([
                "Company {{ data.resource.companyName }} (#{{ data.company_id }})",
                "{{ data.resource.vip }}/{{ data.resource.tags }}/{{ data.resource.parent }}",
                "[{{ data.nope }}][{{ data.resource.none }}]",
                "{{ type }}{{ id }}",
                "multi\nline \"{{ storehash }}\"\t\u{1}",
            ])),
            json!([
                "Company Acme \"Quotes\" <&> Ltd (#1234)",
                "true/[\"a\",\"b\"]/{\"id\":1}",
                "[][]",
                "com.bigcommerce.company.createde41ea8cb",
                "multi\nline \"abc123\"\t\u{1}",
            ])
        );
    }

    #[test]
    fn fallbacks() {
        assert_eq!(
            render(json!({
                "a": "{{ data.nope ?? \"n/a\" }}",
                "b": "{{ data.nope ?? 0 }}",
                "c": "{{ data.resource.none ?? false }}",
                "d": "x{{ data.nope ?? \"}} \\\"q\\\" {{\" }}y",
                "e": "{{ data.company_id ?? \"unused\" }}",
                "f": "{{data.nope??null}}",
                "g": "{{ data.nope ?? -1.5e3 }}",
            })),
            json!({"a": "n/a", "b": 0, "c": false, "d": "x}} \"q\" {{y", "e": 1234, "f": null, "g": -1500.0})
        );
    }

    #[test]
    fn escapes_and_literal_braces() {
        assert_eq!(
            render(
                json!({"a": "\\{{ not a placeholder \\}}", "b": "{ single } braces", "c": "\\x"})
            ),
            json!({"a": "{{ not a placeholder }}", "b": "{ single } braces", "c": "\\x"})
        );
    }

    #[test]
    fn no_placeholder_renders_to_itself() {
        let t = json!({"text": "hello", "n": [1, 2.5, -3, null, true], "o": {"k\"": "v\u{7f}\u{2028}"}});
        let c = compile(&t, false).unwrap();
        assert_eq!(c.render(&event()), serde_json::to_string(&t).unwrap());
        assert_eq!(c.placeholders(), 0);
        assert_eq!(c.ops.len(), 1);
    }

    #[test]
    fn named_errors() {
        for (t, enrich, why) in [
            (json!("{{ nope }}"), true, "unknown attribute `nope`"),
            (
                json!({"a": {"b": "{{ data.x"}}),
                true,
                "at `/a/b`: placeholder opened at byte 0 is not closed",
            ),
            (json!("{{"), true, "not closed"),
            (json!("{{ }}"), true, "empty placeholder"),
            (json!("a }} b"), true, "closes no placeholder"),
            (json!("{{ data.x[y] }}"), true, "bad array index"),
            (json!("{{ data.x ?? }}"), true, "bad fallback"),
            (json!("{{ data.x ?? nope }}"), true, "bad fallback"),
            (json!("{{ data.x ?? \"open }}"), true, "no closing quote"),
            (json!("{{ data.x ? \"a\" }}"), true, "bad fallback"),
            (json!("{{ data.x ?? [1] }}"), true, "bad fallback"),
            (json!("{{ data.x y }}"), true, "unexpected `y`"),
            (json!({"k{{ id }}": 1}), true, "object keys are literal"),
            (
                json!(["{{ data.resource.companyName }}"]),
                false,
                "at `/0`: `data.resource.companyName` is only there on enriched events",
            ),
            (json!("{{ data.enrichment }}"), false, "enrich = true"),
            (
                json!({"a/b~": "{{ id.x }}"}),
                true,
                "at `/a~1b~0`: `id` is a single value",
            ),
        ] {
            let e = err(t.clone(), enrich);
            assert!(e.contains(why), "{t}: {e}");
        }
        // The whole of `data` is there with or without enrichment.
        assert!(compile(&json!("{{ data }}"), false).is_ok());
    }

    #[test]
    fn limits() {
        let big = json!({"x": "a".repeat(MAX_TEMPLATE_BYTES)});
        assert!(err(big, true).contains("over the limit"));
        let many: Vec<Value> = (0..=MAX_PLACEHOLDERS).map(|_| json!("{{ id }}")).collect();
        assert!(err(Value::Array(many), true).contains("placeholders"));
        let mut deep = json!(1);
        for _ in 0..=MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(err(deep, true).contains("deeper"));
        assert!(compile_text("[1,", true)
            .unwrap_err()
            .contains("not valid JSON"));
        assert_eq!(
            compile_text(r#"{"a":"{{ id }}"}"#, false)
                .unwrap()
                .render(&event()),
            r#"{"a":"e41ea8cb"}"#
        );
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.acme.event+json",
            "text/json",
        ] {
            assert_eq!(check_content_type(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "application/json\r\nx: y",
            "application/json\n",
            "/json",
        ] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_content_type(DEFAULT_CONTENT_TYPE), Ok(()));
    }

    #[test]
    fn enrichment_is_reported() {
        assert!(compile(&json!("{{ data.resource.x }}"), true)
            .unwrap()
            .needs_enrichment());
        assert!(!compile(&json!("{{ data.company_id }}"), true)
            .unwrap()
            .needs_enrichment());
    }

    #[test]
    fn escaping_matches_serde_json() {
        let all: String = (0u8..=0x7f)
            .map(char::from)
            .chain("é€😀\u{2028}".chars())
            .collect();
        let mut out = Vec::new();
        escape_into(&mut out, all.as_bytes());
        assert_eq!(
            format!("\"{}\"", String::from_utf8(out).unwrap()),
            serde_json::to_string(&all).unwrap()
        );
    }

    #[test]
    fn a_non_object_event_renders_nulls() {
        let t = compile(&json!({"a": "{{ id }}", "b": "x{{ id }}"}), false).unwrap();
        assert_eq!(t.render(&json!([1])), r#"{"a":null,"b":"x"}"#);
    }
}
