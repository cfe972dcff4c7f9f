//! Content filters (`where` on a target): a JSON object matched against the structured
//! CloudEvent, in the syntax Svix and Hookdeck users know.
//!
//! - Keys are field names; a nested object matches nested fields
//!   (`{"data":{"resource":{"companyStatus":0}}}`). At the top, keys are CloudEvent
//!   attributes (`type`, `storehash`, `data`, …): an unknown one is refused, it could never match.
//! - A plain value means equality. Numbers compare as numbers (`1` equals `1.0`), and a whole
//!   number equals the same number written as a string of digits (`0` equals `"0"`): B2B
//!   Edition sends codes and ids both ways (`companyStatus` is `"0"` in Get Company Details,
//!   `0` elsewhere). A plain array means an equal array (same items, same order); to compare a
//!   whole object use `$eq`.
//! - Operators: `$eq`, `$neq`, `$in`, `$nin` (any JSON values, equal as above); `$gt`, `$gte`,
//!   `$lt`, `$lte` (a number or a string: numbers compare with numbers, strings with strings by
//!   bytes, other pairs, digit strings against numbers included, never match); `$exist` (or `$exists`, a bool); `$startsWith`, `$endsWith` (a string,
//!   on string fields); `$and`, `$or` (non-empty arrays of filter objects) and `$not` (a filter
//!   object), which apply at the level they are written at.
//! - A missing field compares as `null` for `$eq`, `$neq`, `$in`, `$nin` and plain values, so
//!   `{"subject": null}` matches an event without a subject and `$neq`/`$nin` match a missing
//!   field; every other operator needs the field.
//! - Several keys in one object must all match.
//!
//! Fields that only enrichment writes (`data.resource`, `data.enrichment`,
//! `data.enrichment_error`), and tests on `data` as a whole, are unknown before enrichment:
//! `may_match` answers whether an event still could match once enriched, so the relay can drop
//! it at ingest without an API call, and `matches` on the enriched event gives the final answer.
//!
//! The filter is kept as the JSON it was written in, checked once at load, and read again
//! for every event: a compiled tree of nodes cost more wasm than walking the JSON does.

use crate::core::route::path::{check_has_fields, check_root, check_size, Needs, ENRICHED_FIELDS};
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// Compact JSON text of a filter, at most.
pub const MAX_FILTER_BYTES: usize = 16 * 1024;
/// Nesting of a filter's objects and arrays, at most.
pub const MAX_DEPTH: usize = 32;

/// A checked filter, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The filter as written, checked: every key and operand is known to be well-formed.
    src: Map<String, Value>,
    needs_enrichment: bool,
}

/// Three-valued answer, ordered so that "and" is the minimum and "or" the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tri {
    No,
    Unknown,
    Yes,
}

use Tri::{No, Unknown, Yes};

/// Where in the event a filter object applies: what its keys may be, and which tests wait
/// for enrichment.
#[derive(Clone, Copy, PartialEq)]
enum At {
    /// The event: keys are attributes.
    Top,
    /// `data` itself: tests on it see the enriched `data` after enrichment.
    Data,
    Below,
}

impl At {
    /// The level below field `k`, and whether that field only exists once enriched.
    fn enter(self, k: &str) -> (At, bool) {
        match self {
            At::Top if k == "data" => (At::Data, false),
            At::Data => (At::Below, ENRICHED_FIELDS.contains(&k)),
            _ => (At::Below, false),
        }
    }
}

/// Checks `filter` and prepares it. Errors name the field they are about.
pub fn compile(filter: &Value) -> Result<Filter, String> {
    check_size(filter, "filter", MAX_DEPTH, MAX_FILTER_BYTES)?;
    let Value::Object(m) = filter else {
        return Err(
            "a filter is a JSON object, e.g. {\"type\":\"com.bigcommerce.company.created\"}".into(),
        );
    };
    let mut c = Checker {
        path: Vec::new(),
        needs_enrichment: false,
    };
    c.object(m)?;
    Ok(Filter {
        needs_enrichment: c.needs_enrichment,
        src: m.clone(),
    })
}

struct Checker<'a> {
    /// Field names from the event's root to where the check is.
    path: Vec<&'a str>,
    needs_enrichment: bool,
}

impl<'a> Checker<'a> {
    fn at(&self, why: &str) -> String {
        if self.path.is_empty() {
            return why.to_owned();
        }
        let mut at = String::from("at `");
        for (i, k) in self.path.iter().enumerate() {
            if i > 0 {
                at.push('.');
            }
            at.push_str(k);
        }
        at.push_str("`: ");
        at.push_str(why);
        at
    }

    fn object(&mut self, m: &'a Map<String, Value>) -> Result<(), String> {
        m.iter().try_for_each(|(k, v)| self.entry(k, v))
    }

    fn entry(&mut self, k: &'a str, v: &'a Value) -> Result<(), String> {
        match (k, v) {
            ("$and" | "$or", Value::Array(a)) if !a.is_empty() => {
                a.iter().try_for_each(|x| match x {
                    Value::Object(m) => self.object(m),
                    _ => Err(self.at(&format!("`{k}` takes an array of filter objects"))),
                })
            }
            ("$and" | "$or", _) => {
                Err(self.at(&format!("`{k}` takes a non-empty array of filter objects")))
            }
            ("$not", Value::Object(m)) => self.object(m),
            ("$not", _) => Err(self.at("`$not` takes a filter object")),
            _ if k.starts_with('$') => {
                self.operator(k, v)?;
                if self.path.is_empty() {
                    return Err(format!(
                        "`{k}` at the top compares the whole event: put it under a field, e.g. {{\"type\":{{\"{k}\":…}}}}"
                    ));
                }
                Ok(())
            }
            _ => {
                match self.path[..] {
                    [] => check_root(k)?,
                    [root] => {
                        check_has_fields(root).map_err(|e| self.at(&e))?;
                        self.needs_enrichment |= ENRICHED_FIELDS.contains(&k);
                    }
                    _ => {}
                }
                self.path.push(k);
                let r = match v {
                    Value::Object(m) if m.is_empty() => Err(self.at(
                        "an empty object matches anything: write {\"$exist\":true}, or {\"$eq\":{}} for an empty object",
                    )),
                    Value::Object(m) => self.object(m),
                    _ => Ok(()),
                };
                self.path.pop();
                r
            }
        }
    }

    fn operator(&self, op: &str, v: &Value) -> Result<(), String> {
        let want = match (op, v) {
            ("$eq" | "$neq", _)
            | ("$in" | "$nin", Value::Array(_))
            | ("$gt" | "$gte" | "$lt" | "$lte", Value::Number(_) | Value::String(_))
            | ("$exist" | "$exists", Value::Bool(_))
            | ("$startsWith" | "$endsWith", Value::String(_)) => return Ok(()),
            ("$in" | "$nin", _) => "an array of values",
            ("$gt" | "$gte" | "$lt" | "$lte", _) => "a number or a string",
            ("$exist" | "$exists", _) => "true or false",
            ("$startsWith" | "$endsWith", _) => "a string",
            _ => {
                return Err(self.at(&format!(
                    "unknown operator `{op}`: use $eq, $neq, $in, $nin, $gt, $gte, $lt, $lte, $exist, $startsWith, $endsWith, $and, $or or $not"
                )))
            }
        };
        Err(self.at(&format!("`{op}` takes {want}")))
    }
}

fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Numbers by value: integers exactly, anything with a fraction as f64.
fn cmp_num(a: &Number, b: &Number) -> Option<Ordering> {
    match (as_i128(a), as_i128(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A whole number and its decimal digits (`-12` and `"-12"`; not `"012"`, `"+12"`, `" 12"`,
/// `"-0"`). Checked without allocating (filters run per target and event), and in u64: an
/// i128 parse links 128-bit multiplication.
fn digits_eq(n: &Number, s: &str) -> bool {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0";
    if !canonical {
        return false;
    }
    let magnitude = digits.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    });
    let want = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => (false, u),
        (None, Some(i)) => (true, i.unsigned_abs()),
        _ => return false,
    };
    magnitude == Some(want.1) && neg == want.0
}

/// JSON equality with numbers compared by value, and whole numbers equal to their digits.
/// Written out rather than `Value == Value`, which would link a second equality.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_num(x, y) == Some(Ordering::Equal),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            digits_eq(n, s)
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => false,
    }
}

static NULL: Value = Value::Null;

/// Operator `op` (checked at load) with operand `v` on the current value.
fn test(op: &str, v: &Value, cur: Option<&Value>) -> bool {
    let or_null = cur.unwrap_or(&NULL);
    let text = || match cur {
        Some(Value::String(s)) => v.as_str().map(|p| (s.as_bytes(), p.as_bytes())),
        _ => None,
    };
    match op {
        "$eq" => json_eq(or_null, v),
        "$neq" => !json_eq(or_null, v),
        "$in" | "$nin" => {
            let hit = v
                .as_array()
                .is_some_and(|xs| xs.iter().any(|x| json_eq(or_null, x)));
            hit == (op == "$in")
        }
        "$exist" | "$exists" => v.as_bool() == Some(cur.is_some()),
        "$startsWith" => text().is_some_and(|(s, p)| s.starts_with(p)),
        "$endsWith" => text().is_some_and(|(s, p)| s.ends_with(p)),
        _ => {
            let ord = match (cur, v) {
                (Some(Value::Number(n)), Value::Number(b)) => cmp_num(n, b),
                (Some(Value::String(s)), Value::String(b)) => Some(s.as_str().cmp(b)),
                _ => None,
            };
            ord.is_some_and(|o| match op {
                "$gt" => o == Ordering::Greater,
                "$gte" => o != Ordering::Less,
                "$lt" => o == Ordering::Less,
                _ => o != Ordering::Greater,
            })
        }
    }
}

/// A filter object on the current value: all of its keys must match.
fn object(m: &Map<String, Value>, cur: Option<&Value>, at: At, pending: bool) -> Tri {
    let mut acc = Yes;
    for (k, v) in m {
        acc = acc.min(entry(k, v, cur, at, pending));
        if acc == No {
            break;
        }
    }
    acc
}

/// The objects of a `$and` (`any` false) or `$or` (`any` true).
fn list(v: &Value, any: bool, cur: Option<&Value>, at: At, pending: bool) -> Tri {
    let (mut acc, stop) = if any { (No, Yes) } else { (Yes, No) };
    for m in v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        let t = object(m, cur, at, pending);
        acc = if any { acc.max(t) } else { acc.min(t) };
        if acc == stop {
            break;
        }
    }
    acc
}

/// A test on `data` as a whole waits for enrichment.
fn guard(at: At, pending: bool, yes: bool) -> Tri {
    match (at == At::Data && pending, yes) {
        (true, _) => Unknown,
        (false, true) => Yes,
        (false, false) => No,
    }
}

fn entry(k: &str, v: &Value, cur: Option<&Value>, at: At, pending: bool) -> Tri {
    match k {
        "$and" => list(v, false, cur, at, pending),
        "$or" => list(v, true, cur, at, pending),
        "$not" => match v.as_object().map(|m| object(m, cur, at, pending)) {
            Some(Yes) => No,
            Some(No) => Yes,
            _ => Unknown,
        },
        _ if k.starts_with('$') => guard(at, pending, test(k, v, cur)),
        _ => {
            let child = cur.and_then(Value::as_object).and_then(|m| m.get(k));
            let (below, enriched) = at.enter(k);
            match v {
                _ if enriched && pending => Unknown,
                Value::Object(m) => object(m, child, below, pending),
                _ => guard(below, pending, json_eq(child.unwrap_or(&NULL), v)),
            }
        }
    }
}

/// Adds what filter object `m` reads, `at` being the field names from the event's root.
fn needs<'a>(m: &'a Map<String, Value>, at: &mut Vec<&'a str>, out: &mut Needs) {
    for (k, v) in m {
        match (k.as_str(), v) {
            ("$and" | "$or", Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_object)
                .for_each(|m| needs(m, at, out)),
            ("$not", Value::Object(m)) => needs(m, at, out),
            (k, _) if k.starts_with('$') => out.add_keys(at.iter().copied()),
            (k, v) => {
                at.push(k);
                match v {
                    Value::Object(m) => needs(m, at, out),
                    _ => out.add_keys(at.iter().copied()),
                }
                at.pop();
            }
        }
    }
}

impl Filter {
    /// The parts of the event the filter reads: evaluate against `needs().pick(ev)` instead of
    /// the whole `event_value(ev)` to skip building what it ignores.
    pub fn needs(&self) -> Needs {
        let mut out = Needs::default();
        needs(&self.src, &mut Vec::new(), &mut out);
        out
    }

    /// Whether `event` (the structured CloudEvent as a JSON object, enriched when the target
    /// is) matches.
    pub fn matches(&self, event: &Value) -> bool {
        object(&self.src, Some(event), At::Top, false) == Yes
    }

    /// Before enrichment: false only when `event` cannot match whatever enrichment adds, so
    /// the event can be dropped for this target without calling the API. Equals `matches` for
    /// a filter that reads neither enriched fields nor `data` as a whole; `matches` implies it.
    pub fn may_match(&self, event: &Value) -> bool {
        object(&self.src, Some(event), At::Top, true) != No
    }

    /// Whether the filter reads `data.resource`, `data.enrichment` or `data.enrichment_error`:
    /// fields that are only there on enriched events, so such a filter belongs on a target
    /// with `enrich = true`.
    pub fn needs_enrichment(&self) -> bool {
        self.needs_enrichment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "specversion": "1.0",
            "id": "e41e",
            "type": "com.bigcommerce.company.created",
            "subject": "companies/1234",
            "storehash": "abc123",
            "storeid": "1001",
            "data": {
                "company_id": 1234,
                "resource": {"companyName": "Acme Ltd", "companyStatus": 0, "tags": ["a", "b"],
                             "score": 2.5, "parent": {"id": 1}, "none": null},
                "enrichment": "ok"
            }
        })
    }

    fn m(f: Value) -> bool {
        compile(&f)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .matches(&event())
    }

    #[test]
    fn plain_values_and_nesting() {
        assert!(m(json!({"type": "com.bigcommerce.company.created"})));
        assert!(!m(json!({"type": "com.bigcommerce.company.updated"})));
        assert!(m(json!({"data": {"resource": {"companyStatus": 0}}})));
        assert!(m(json!({"data": {"resource": {"companyStatus": 0.0}}})));
        assert!(m(json!({"data": {"resource": {"companyStatus": "0"}}})));
        assert!(!m(json!({"data": {"resource": {"companyStatus": "00"}}})));
        assert!(!m(json!({"data": {"resource": {"companyStatus": " 0"}}})));
        assert!(m(json!({"data": {"company_id": "1234"}})));
        assert!(!m(json!({"data": {"company_id": "1234.0"}})));
        assert!(!m(json!({"data": {"company_id": "+1234"}})));
        assert!(!m(json!({"data": {"company_id": "01234"}})));
        let neg = json!({"data": {"n": -5, "z": 0, "big": u64::MAX}});
        let f = |v: Value| compile(&v).unwrap().matches(&neg);
        assert!(f(
            json!({"data": {"n": "-5", "z": "0", "big": u64::MAX.to_string()}})
        ));
        assert!(!f(json!({"data": {"z": "-0"}})));
        assert!(!f(json!({"data": {"big": "9".repeat(50)}})));
        assert!(m(json!({"data": {"company_id": {"$in": ["1", "1234"]}}})));
        assert!(m(json!({"data": {"resource": {"tags": ["a", "b"]}}})));
        assert!(!m(json!({"data": {"resource": {"tags": ["b", "a"]}}})));
        assert!(!m(json!({"data": {"resource": {"tags": ["a"]}}})));
        assert!(m(json!({"data": {"resource": {"parent": {"id": 1}}}})));
        assert!(m(
            json!({"data": {"resource": {"parent": {"$eq": {"id": 1.0}}}}})
        ));
        assert!(!m(json!({"data": {"resource": {"parent": {"$eq": {}}}}})));
        assert!(m(
            json!({"storehash": "abc123", "data": {"company_id": 1234}})
        ));
        assert!(!m(
            json!({"storehash": "abc123", "data": {"company_id": 1}})
        ));
        assert!(m(json!({"bctest": null})));
        assert!(m(
            json!({"data": {"resource": {"none": null, "missing": null}}})
        ));
        assert!(!m(json!({"data": {"company_id": {"nested": 1}}})));
        assert!(m(json!({})));
    }

    #[test]
    fn operators() {
        let yes = [
            json!({"type": {"$in": ["com.bigcommerce.company.created", "x"]}}),
            json!({"type": {"$nin": ["x"]}}),
            json!({"type": {"$eq": "com.bigcommerce.company.created"}}),
            json!({"type": {"$neq": "x"}}),
            json!({"bcwebhookid": {"$neq": "x"}}),
            json!({"bcwebhookid": {"$nin": ["x"]}}),
            json!({"type": {"$startsWith": "com.bigcommerce.company."}}),
            json!({"type": {"$endsWith": ".created"}}),
            json!({"subject": {"$exist": true}, "bctest": {"$exists": false}}),
            json!({"data": {"company_id": {"$gt": 1000, "$lte": 1234}}}),
            json!({"data": {"company_id": {"$gte": 1234.0, "$lt": 1234.5}}}),
            json!({"data": {"resource": {"score": {"$gt": 2, "$lt": 3}}}}),
            json!({"storehash": {"$gt": "abc", "$lt": "abd"}}),
            json!({"data": {"resource": {"none": {"$exist": true}}}}),
            json!({"$or": [{"type": "x"}, {"storehash": "abc123"}]}),
            json!({"$and": [{"type": {"$endsWith": "created"}}, {"storehash": "abc123"}]}),
            json!({"$not": {"type": "x"}}),
            json!({"data": {"$or": [{"company_id": 1}, {"resource": {"companyStatus": {"$in": [0, "0"]}}}]}}),
            json!({"data": {"resource": {"companyStatus": {"$not": {"$in": [1, 2, 3]}}}}}),
            json!({"data": {"company_id": {"$in": [1234.0]}}}),
        ];
        for f in yes {
            assert!(m(f.clone()), "{f} should match");
        }
        let no = [
            json!({"type": {"$in": ["x"]}}),
            json!({"type": {"$nin": ["com.bigcommerce.company.created"]}}),
            json!({"type": {"$neq": "com.bigcommerce.company.created"}}),
            json!({"type": {"$startsWith": ".created"}}),
            json!({"data": {"company_id": {"$startsWith": "12"}}}),
            json!({"subject": {"$exist": false}}),
            json!({"bcwebhookid": {"$exist": true}}),
            json!({"data": {"company_id": {"$gt": 1234}}}),
            json!({"data": {"company_id": {"$lt": 1234}}}),
            json!({"data": {"company_id": {"$gt": "1"}}}),
            json!({"data": {"company_id": {"$gte": "1234"}}}),
            json!({"storehash": {"$gt": 1}}),
            json!({"data": {"nope": {"$lte": 5}}}),
            json!({"data": {"nope": {"$gte": "a"}}}),
            json!({"$or": [{"type": "x"}, {"storehash": "y"}]}),
            json!({"$and": [{"type": {"$endsWith": "created"}}, {"storehash": "y"}]}),
            json!({"$not": {"storehash": "abc123"}}),
            json!({"data": {"company_id": {"$gt": 1000, "$lt": 1200}}}),
        ];
        for f in no {
            assert!(!m(f.clone()), "{f} should not match");
        }
    }

    #[test]
    fn big_integers_compare_exactly() {
        let ev = json!({"data": {"n": u64::MAX, "m": -9_007_199_254_740_993_i64}});
        let f = |v: Value| compile(&v).unwrap().matches(&ev);
        assert!(f(json!({"data": {"n": {"$gt": u64::MAX - 1}}})));
        assert!(!f(json!({"data": {"n": u64::MAX - 1}})));
        assert!(f(
            json!({"data": {"m": {"$lt": -9_007_199_254_740_992_i64}}})
        ));
        assert!(f(json!({"data": {"m": {"$lt": 0.5}}})));
    }

    #[test]
    fn named_errors() {
        for (f, why) in [
            (json!([]), "a filter is a JSON object"),
            (json!("type"), "a filter is a JSON object"),
            (json!({"typ": "x"}), "unknown attribute `typ`"),
            (json!({"id": {"x": 1}}), "at `id`: `id` is a single value"),
            (
                json!({"type": {"$regex": "x"}}),
                "at `type`: unknown operator `$regex`",
            ),
            (json!({"type": {"$in": "x"}}), "`$in` takes an array"),
            (json!({"type": {"$nin": {}}}), "`$nin` takes an array"),
            (json!({"$or": {}}), "`$or` takes a non-empty array"),
            (json!({"$or": []}), "`$or` takes a non-empty array"),
            (
                json!({"$and": [1]}),
                "`$and` takes an array of filter objects",
            ),
            (json!({"$not": [1]}), "`$not` takes a filter object"),
            (json!({"$gt": 1}), "at the top"),
            (
                json!({"data": {"x": {"$gt": true}}}),
                "at `data.x`: `$gt` takes a number or a string",
            ),
            (
                json!({"data": {"x": {"$exist": 1}}}),
                "`$exist` takes true or false",
            ),
            (
                json!({"type": {"$startsWith": 1}}),
                "`$startsWith` takes a string",
            ),
            (
                json!({"data": {"resource": {}}}),
                "at `data.resource`: an empty object",
            ),
            (json!({"$or": [{"nope": 1}]}), "unknown attribute `nope`"),
        ] {
            let e = compile(&f).unwrap_err();
            assert!(e.contains(why), "{f}: {e}");
        }
        let big = json!({"type": {"$in": vec!["x".repeat(100); 200]}});
        assert!(compile(&big).unwrap_err().contains("over the limit"));
        let mut deep = json!(1);
        for _ in 0..=MAX_DEPTH {
            deep = json!({"x": deep});
        }
        assert!(compile(&json!({"data": deep}))
            .unwrap_err()
            .contains("deeper"));
    }

    #[test]
    fn enrichment_is_unknown_before_and_known_after() {
        let f = compile(
            &json!({"type": {"$endsWith": ".created"}, "data": {"resource": {"companyStatus": 0}}}),
        )
        .unwrap();
        assert!(f.needs_enrichment());
        let before = json!({"type": "com.bigcommerce.company.created", "data": {"company_id": 1}});
        let wrong_type =
            json!({"type": "com.bigcommerce.company.updated", "data": {"company_id": 1}});
        assert!(f.may_match(&before));
        assert!(!f.matches(&before));
        assert!(!f.may_match(&wrong_type));
        assert!(f.matches(&event()));

        // $not of an unknown is unknown; $or with a known yes is yes.
        let g = compile(&json!({"$not": {"data": {"enrichment": "ok"}}})).unwrap();
        assert!(g.may_match(&before) && !g.matches(&event()));
        let h = compile(
            &json!({"$or": [{"data": {"resource": {"x": 1}}}, {"data": {"company_id": 1}}]}),
        )
        .unwrap();
        assert!(h.may_match(&before) && h.matches(&before));
        // A test on the whole of `data` waits for enrichment too.
        let w = compile(&json!({"data": {"$eq": {"company_id": 1}}})).unwrap();
        assert!(!w.needs_enrichment() && w.may_match(&wrong_type) && !w.matches(&event()));

        let plain = compile(&json!({"data": {"company_id": 1}, "type": {"$exist": true}})).unwrap();
        assert!(!plain.needs_enrichment());
        assert!(plain.may_match(&before) && plain.matches(&before));
        assert!(!plain.may_match(&event()));
    }
}
