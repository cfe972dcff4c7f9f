//! Addresses inside the structured CloudEvent (the JSON the `cloudevents` format delivers), as
//! templates and `where` filters use them: `type`, `data.company_id`, `data.resource.extraFields[0]`.
//! Shared here so that both accept the same roots and agree on what needs enrichment.

use crate::core::event::CloudEvent;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
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
                    let n = text[start..end]
                        .parse::<usize>()
                        .map_err(|e| e.to_string())?;
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
    pick(
        ev,
        &Need {
            whole: true,
            fields: Vec::new(),
        },
    )
}

/// The attributes `need` names (all when it is whole) and the needed parts of `data`.
/// Attributes BigCommerce did not send (`None`, or an empty store hash, store id or hash) are
/// left out, as in the event's JSON.
fn pick(ev: &CloudEvent, need: &Need) -> Value {
    let mut m = Map::new();
    let wants = |k: &str| need.whole || need.child(k).is_some();
    // Checked before the value is built: an unneeded attribute costs no allocation.
    let mut text = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|_| wants(k)) {
            m.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    };
    fn present(v: &str) -> Option<&str> {
        (!v.is_empty()).then_some(v)
    }
    text("specversion", Some(&ev.specversion));
    text("id", Some(&ev.id));
    text("source", Some(&ev.source));
    text("type", Some(&ev.ty));
    text("subject", ev.subject.as_deref());
    text("time", Some(&ev.time));
    text("datacontenttype", Some(&ev.datacontenttype));
    text("storehash", present(&ev.storehash));
    text("storeid", present(&ev.storeid));
    text("bcscope", Some(&ev.bcscope));
    text("bchash", present(&ev.bchash));
    text("bcwebhookid", ev.bcwebhookid.as_deref());
    if let Some(t) = ev.bctest.filter(|_| wants("bctest")) {
        m.insert("bctest".to_owned(), Value::Bool(t));
    }
    let data = if need.whole {
        Some(need)
    } else {
        need.child("data")
    };
    if let Some(n) = data {
        m.insert("data".to_owned(), pick_text(ev.data.get(), n));
    }
    Value::Object(m)
}

/// The parts of an event that a set of templates and filters read: a tree of field names,
/// where a marked node is needed whole. `pick` then builds a `Value` holding only those
/// parts, skipping the rest of the JSON without building it; for every path added, `get` on
/// the picked value answers exactly as on `event_value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    root: Need,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Need {
    whole: bool,
    /// Few per level: a list beats a map.
    fields: Vec<(Box<str>, Need)>,
}

impl Need {
    fn child(&self, k: &str) -> Option<&Need> {
        self.fields.iter().find(|(f, _)| &**f == k).map(|(_, n)| n)
    }

    fn child_mut(&mut self, k: &str) -> &mut Need {
        let i = match self.fields.iter().position(|(f, _)| &**f == k) {
            Some(i) => i,
            None => {
                self.fields.push((k.into(), Need::default()));
                self.fields.len() - 1
            }
        };
        &mut self.fields[i].1
    }

    fn merge(&mut self, other: &Need) {
        self.whole |= other.whole;
        for (k, n) in &other.fields {
            self.child_mut(k).merge(n);
        }
    }
}

impl Needs {
    /// Everything below `path` (from its first array index on, the whole array).
    pub fn add(&mut self, path: &Path) {
        let keys = path.steps().iter().map_while(|s| match s {
            Step::Key(k) => Some(&**k),
            Step::Index(_) => None,
        });
        self.add_keys(keys);
    }

    /// Everything below the field reached through `keys` from the event's root.
    pub fn add_keys<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        keys.into_iter()
            .fold(&mut self.root, |n, k| n.child_mut(k))
            .whole = true;
    }

    pub fn merge(&mut self, other: &Needs) {
        self.root.merge(&other.root);
    }

    /// The needed parts of `ev`: attributes are copied, `data` is read selectively.
    pub fn pick(&self, ev: &CloudEvent) -> Value {
        pick(ev, &self.root)
    }

    /// The needed parts of an event given as its JSON text (e.g. `EncodedEvent::json`).
    /// Text that is not JSON gives `null`.
    pub fn pick_json(&self, json: &str) -> Value {
        pick_text(json, &self.root)
    }
}

fn pick_text(json: &str, need: &Need) -> Value {
    let mut de = serde_json::Deserializer::from_str(json);
    PickSeed(need).deserialize(&mut de).unwrap_or(Value::Null)
}

struct PickSeed<'n>(&'n Need);

impl<'de> DeserializeSeed<'de> for PickSeed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.whole {
            Value::deserialize(d)
        } else {
            d.deserialize_any(PickVisitor(self.0))
        }
    }
}

/// An object key, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct PickVisitor<'n>(&'n Need);

/// Only objects are picked from; any other value at a partly needed place is kept whole, so
/// lookups through it fail exactly as they would on the full event.
impl<'de> Visitor<'de> for PickVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(k)) = map.next_key::<Key>()? {
            match self.0.child(&k) {
                Some(need) => {
                    let v = map.next_value_seed(PickSeed(need))?;
                    out.insert(k.into_owned(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
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
        assert_eq!(
            picked,
            json!({"type":"t","data":{"n":5,"resource":{"companyName":"A\""},"items":[{"x":1},{"x":2}]}})
        );
        let full: Value = serde_json::from_str(text).unwrap();
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
