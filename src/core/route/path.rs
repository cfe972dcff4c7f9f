//! Addresses inside the structured CloudEvent (the JSON the `cloudevents` format delivers), as
//! templates and `where` filters use them: `type`, `data.company_id`, `data.resource.extraFields[0]`.
//! Shared here so that both accept the same roots and agree on what needs enrichment.

use crate::core::event::CloudEvent;
use serde_json::{Map, Value};
use std::fmt;

/// The top-level attributes a path may start with. `bcwebhookid` is BigCommerce's own callback
/// id where it sends one; like `subject` and `bctest` it may be absent from an event.
pub const ATTRIBUTES: [&str; 14] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "storehash",
    "storeid",
    "bcscope",
    "bchash",
    "bctest",
    "bcwebhookid",
    "data",
];

/// `ATTRIBUTES` as a list for messages (a literal: `join` would link one more copy of itself).
const ATTRIBUTE_LIST: &str = "specversion, id, source, type, subject, time, datacontenttype, storehash, storeid, bcscope, bchash, bctest, bcwebhookid, data";

/// The fields of `data` that only enrichment writes (see `deliver::enrich::apply`).
pub const ENRICHED_FIELDS: [&str; 3] = ["resource", "enrichment", "enrichment_error"];

/// Longest path text and most steps: a path is a handful of names, anything longer is a mistake.
const MAX_PATH_BYTES: usize = 256;
const MAX_STEPS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(Box<str>),
    Index(usize),
}

/// A checked path: its first step is one of `ATTRIBUTES`, only `data` has anything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(Box<[Step]>);

/// Checks that `name` may start a path.
pub fn check_root(name: &str) -> Result<(), String> {
    if ATTRIBUTES.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown attribute `{name}`: a path starts with one of {ATTRIBUTE_LIST}"
        ))
    }
}

/// Checks that `root` may have fields or items below it: every attribute but `data` is a
/// string (or `bctest`, a bool), so a path through one could never match.
pub fn check_has_fields(root: &str) -> Result<(), String> {
    if root == "data" {
        Ok(())
    } else {
        Err(format!(
            "`{root}` is a single value: only `data` has fields below it"
        ))
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A byte of a text for an error message: itself when printable ASCII, else `\xNN`.
pub fn shown(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        char::from(b).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}

/// Checks the nesting (at most `max_depth`) and the compact JSON size (at most `max_bytes`)
/// of a template or filter; `what` names it in the error.
pub fn check_size(v: &Value, what: &str, max_depth: usize, max_bytes: usize) -> Result<(), String> {
    // Depth first: serializing (for the size) recurses.
    fn depth(v: &Value, left: usize) -> bool {
        match v {
            _ if left == 0 => false,
            Value::Array(a) => a.iter().all(|x| depth(x, left - 1)),
            Value::Object(m) => m.values().all(|x| depth(x, left - 1)),
            _ => true,
        }
    }
    if !depth(v, max_depth + 1) {
        return Err(format!("{what} nested deeper than {max_depth} levels"));
    }
    let size = serde_json::to_vec(v).map_or(usize::MAX, |s| s.len());
    if size > max_bytes {
        return Err(format!(
            "{what} is {size} bytes of JSON, over the limit of {max_bytes}"
        ));
    }
    Ok(())
}

impl Path {
    /// `data.resource.extraFields[0].fieldValue`: names of letters, digits, `_` and `-`
    /// joined by dots, `[n]` for an array item.
    pub fn parse(text: &str) -> Result<Path, String> {
        if text.is_empty() {
            return Err("empty path".into());
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(format!("path longer than {MAX_PATH_BYTES} bytes"));
        }
        let b = text.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        // Expecting a name: at the start and after every dot.
        let mut want_name = true;
        while i < b.len() {
            if want_name {
                let start = i;
                while i < b.len() && is_key_byte(b[i]) {
                    i += 1;
                }
                if start == i {
                    return Err(format!("`{text}`: expected a field name at byte {start}"));
                }
                steps.push(Step::Key(text[start..i].into()));
                want_name = false;
                continue;
            }
            match b[i] {
                b'.' => {
                    want_name = true;
                    i += 1;
                    if i == b.len() {
                        return Err(format!("`{text}`: a path cannot end with `.`"));
                    }
                }
                b'[' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                    if end == b.len() || b[end] != b']' || end == start || end - start > 6 {
                        return Err(format!(
                            "`{text}`: bad array index at byte {i}: write `[n]`, n a whole number below 1000000"
                        ));
                    }
                    // At most six digits, checked above: no overflow, no `parse` error path.
                    let n = b[start..end]
                        .iter()
                        .fold(0, |n, d| n * 10 + usize::from(d - b'0'));
                    steps.push(Step::Index(n));
                    i = end + 1;
                }
                other => {
                    return Err(format!(
                        "`{text}`: unexpected `{}` at byte {i}",
                        shown(other)
                    ))
                }
            }
        }
        if steps.len() > MAX_STEPS {
            return Err(format!("`{text}`: more than {MAX_STEPS} steps"));
        }
        Path::from_steps(steps)
    }

    /// A path from steps already split (a filter's nested keys), with the same root rules.
    pub fn from_steps(steps: Vec<Step>) -> Result<Path, String> {
        match steps.first() {
            Some(Step::Key(root)) => {
                check_root(root)?;
                if steps.len() > 1 {
                    check_has_fields(root)?;
                }
            }
            _ => return Err("a path starts with an attribute name".into()),
        }
        Ok(Path(steps.into_boxed_slice()))
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// True for `data` itself and for anything below `data.resource`, `data.enrichment` and
    /// `data.enrichment_error`: values that differ before and after enrichment.
    pub fn needs_enrichment(&self) -> bool {
        match &*self.0 {
            [Step::Key(d)] => &**d == "data",
            [Step::Key(d), Step::Key(f), ..] => &**d == "data" && ENRICHED_FIELDS.contains(&&**f),
            _ => false,
        }
    }

    /// The value at this path, if every step exists.
    pub fn get<'a>(&self, event: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(event, |v, step| match (v, step) {
            (Value::Object(m), Step::Key(k)) => m.get(&**k),
            (Value::Array(a), Step::Index(i)) => a.get(*i),
            _ => None,
        })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => f.write_str(k)?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The structured CloudEvent as a `Value`, built from the struct: only `data` is parsed, the
/// attributes are copied, which is cheaper than parsing the event's whole JSON text.
/// `data` that is not valid JSON (never the case for a normalized event) becomes `null`.
pub fn event_value(ev: &CloudEvent) -> Value {
    Needs::ALL.pick(ev)
}

/// The attributes of an event that a set of templates and filters read (one bit per entry of
/// `ATTRIBUTES`): `pick` builds a `Value` holding only those, so a target that reads `type`
/// and `data.company_id` costs no copy of the other attributes. `data` is parsed whole when
/// read: skipping its unread fields saved about 2 µs per enriched delivery but cost 4 KB of
/// wasm (a visitor of its own). For every path added, `get` on the picked value answers
/// exactly as on `event_value`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs(u16);

impl Needs {
    /// Every attribute.
    pub const ALL: Needs = Needs(u16::MAX);

    /// What `path` reads: its attribute.
    pub fn add(&mut self, path: &Path) {
        if let Some(Step::Key(root)) = path.steps().first() {
            self.add_keys([&**root]);
        }
    }

    /// The field reached through `keys` from the event's root: its attribute, or the whole
    /// event for no key at all.
    pub fn add_keys<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        self.0 |= match keys.into_iter().next() {
            Some(root) => ATTRIBUTES
                .iter()
                .position(|a| *a == root)
                .map_or(0, |i| 1 << i),
            None => u16::MAX,
        };
    }

    pub fn merge(&mut self, other: &Needs) {
        self.0 |= other.0;
    }

    /// Whether `ATTRIBUTES[i]` is needed.
    fn bit(self, i: usize) -> bool {
        self.0 >> i & 1 == 1
    }

    /// The needed attributes of `ev`, copied; `data` parsed when needed. Attributes
    /// BigCommerce did not send (`None`, or an empty store hash, store id or hash) are left
    /// out, as in the event's JSON.
    pub fn pick(&self, ev: &CloudEvent) -> Value {
        fn present(v: &str) -> Option<&str> {
            (!v.is_empty()).then_some(v)
        }
        // In the order of `ATTRIBUTES`, up to `bcwebhookid` (`bctest` is a bool).
        let texts = [
            Some(&*ev.specversion),
            Some(&*ev.id),
            Some(&*ev.source),
            Some(&*ev.ty),
            ev.subject.as_deref(),
            Some(&*ev.time),
            Some(&*ev.datacontenttype),
            present(&ev.storehash),
            present(&ev.storeid),
            Some(&*ev.bcscope),
            present(&ev.bchash),
            None,
            ev.bcwebhookid.as_deref(),
        ];
        let mut m = Map::new();
        for (i, v) in texts.into_iter().enumerate() {
            // Checked before the value is built: an unneeded attribute costs no allocation.
            if let Some(v) = v.filter(|_| self.bit(i)) {
                m.insert(ATTRIBUTES[i].to_owned(), Value::String(v.to_owned()));
            }
        }
        if let Some(t) = ev.bctest.filter(|_| self.bit(11)) {
            m.insert("bctest".to_owned(), Value::Bool(t));
        }
        if self.bit(13) {
            let data = serde_json::from_str(ev.data.get()).unwrap_or(Value::Null);
            m.insert("data".to_owned(), data);
        }
        Value::Object(m)
    }

    /// The needed attributes of an event given as its JSON text (e.g. `EncodedEvent::json`).
    /// Text that is not JSON gives `null`.
    pub fn pick_json(&self, json: &str) -> Value {
        match serde_json::from_str(json) {
            Ok(Value::Object(mut m)) => {
                m.retain(|k, _| {
                    ATTRIBUTES
                        .iter()
                        .position(|a| a == k)
                        .is_some_and(|i| self.bit(i))
                });
                Value::Object(m)
            }
            Ok(other) => other,
            Err(_) => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_prints_back() {
        for s in [
            "id",
            "data",
            "data.company_id",
            "data.resource.extraFields[0].fieldValue",
            "data.a[1][22].b-c_d",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(
            p("data.x[3]").steps(),
            [
                Step::Key("data".into()),
                Step::Key("x".into()),
                Step::Index(3)
            ]
        );
    }

    #[test]
    fn refuses_bad_paths_with_a_reason() {
        for (s, why) in [
            ("", "empty"),
            ("nope", "unknown attribute `nope`"),
            ("id.x", "`id` is a single value"),
            ("type[0]", "`type` is a single value"),
            ("data.", "cannot end with `.`"),
            ("data..x", "expected a field name"),
            (".data", "expected a field name"),
            ("data[x]", "bad array index"),
            ("data[]", "bad array index"),
            ("data[-1]", "bad array index"),
            ("data[1", "bad array index"),
            ("data[1234567]", "bad array index"),
            ("data x", "unexpected ` `"),
            ("data.a b", "unexpected ` `"),
            ("data.é", "expected a field name"),
        ] {
            let e = Path::parse(s).unwrap_err();
            assert!(e.contains(why), "{s:?}: {e}");
        }
        assert!(Path::parse(&format!("data{}", ".a".repeat(200))).is_err());
        assert!(Path::parse(&format!("data{}", ".a".repeat(40))).is_err());
    }

    #[test]
    fn attribute_list() {
        assert_eq!(ATTRIBUTE_LIST, ATTRIBUTES.join(", "));
        assert_eq!(shown(b'x'), "x");
        assert_eq!(shown(b'\n'), "\\x0a");
    }

    #[test]
    fn enrichment_paths() {
        assert!(p("data.resource.companyName").needs_enrichment());
        assert!(p("data.resource").needs_enrichment());
        assert!(p("data.enrichment").needs_enrichment());
        assert!(p("data.enrichment_error").needs_enrichment());
        assert!(p("data").needs_enrichment());
        assert!(!p("data.company_id").needs_enrichment());
        assert!(!p("type").needs_enrichment());
    }

    #[test]
    fn picks_only_what_is_needed() {
        let mut n = Needs::default();
        n.add(&p("type"));
        n.add(&p("subject"));
        n.add(&p("data.resource.companyName"));
        n.add(&p("data.items[1].x"));
        n.add(&p("data.n.deeper"));
        let text = r#"{"type":"t","id":"i","data":{"company_id":1,"n":5,"resource":{"compan\u0079Name":"A\"","big":[1,{"a":2}]},"items":[{"x":1},{"x":2}],"other":{"deep":true}}}"#;
        let picked = n.pick_json(text);
        let full: Value = serde_json::from_str(text).unwrap();
        // Only the attributes read; `data` whole.
        assert_eq!(picked, json!({"type": "t", "data": full["data"]}));
        for path in [
            "type",
            "subject",
            "data.resource.companyName",
            "data.items[1].x",
            "data.n.deeper",
        ] {
            assert_eq!(p(path).get(&picked), p(path).get(&full), "{path}");
        }
        assert_eq!(Needs::default().pick_json(text), json!({}));
        assert_eq!(n.pick_json("not json"), Value::Null);
        let mut whole = Needs::default();
        whole.add(&p("data"));
        whole.merge(&n);
        assert_eq!(whole.pick_json(text)["data"], full["data"]);
    }

    #[test]
    fn gets_values() {
        let ev = json!({"type":"t","data":{"a":[{"b":1},{"b":[true]}]}});
        assert_eq!(p("type").get(&ev), Some(&json!("t")));
        assert_eq!(p("data.a[1].b[0]").get(&ev), Some(&json!(true)));
        assert_eq!(p("data.a[2]").get(&ev), None);
        assert_eq!(p("data.a.b").get(&ev), None);
        assert_eq!(p("subject").get(&ev), None);
    }
}
