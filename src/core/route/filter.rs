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
    root: Node,
    needs_enrichment: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    /// Descend into a field of the current value.
    Field(Box<str>, Box<Node>),
    /// Only known once the event is enriched.
    Enriched(Box<Node>),
    Test(Test),
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(Value),
    Neq(Value),
    In(Box<[Value]>),
    Nin(Box<[Value]>),
    Cmp(Cmp, Bound),
    Exist(bool),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Num(Number),
    Str(Box<str>),
}

/// Three-valued answer, ordered so that "and" is the minimum and "or" the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tri {
    No,
    Unknown,
    Yes,
}

impl From<bool> for Tri {
    fn from(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
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
    let mut c = Compiler {
        path: Vec::new(),
        needs_enrichment: false,
    };
    let root = c.object(m)?;
    Ok(Filter {
        root,
        needs_enrichment: c.needs_enrichment,
    })
}

struct Compiler {
    /// Field names from the event's root to where the compiler is.
    path: Vec<String>,
    needs_enrichment: bool,
}

fn all(mut nodes: Vec<Node>) -> Node {
    if nodes.len() == 1 {
        nodes.pop().unwrap_or(Node::All(Box::new([])))
    } else {
        Node::All(nodes.into())
    }
}

impl Compiler {
    fn at(&self, why: impl std::fmt::Display) -> String {
        if self.path.is_empty() {
            why.to_string()
        } else {
            let mut at = String::from("at `");
            for (i, k) in self.path.iter().enumerate() {
                if i > 0 {
                    at.push('.');
                }
                at.push_str(k);
            }
            format!("{at}`: {why}")
        }
    }

    /// Tests on `data` as a whole see the enriched `data` after enrichment, so they wait for
    /// it; they do not make the filter need enrichment (they work on any target).
    fn guard(&mut self, node: Node) -> Node {
        if self.path.len() == 1 && self.path[0] == "data" {
            Node::Enriched(Box::new(node))
        } else {
            node
        }
    }

    fn object(&mut self, m: &Map<String, Value>) -> Result<Node, String> {
        let mut nodes = Vec::with_capacity(m.len());
        for (k, v) in m {
            nodes.push(self.entry(k, v)?);
        }
        Ok(all(nodes))
    }

    fn filters(&mut self, op: &str, v: &Value) -> Result<Vec<Node>, String> {
        match v {
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| match x {
                    Value::Object(m) => self.object(m),
                    _ => Err(self.at(format!("`{op}` takes an array of filter objects"))),
                })
                .collect(),
            _ => Err(self.at(format!("`{op}` takes a non-empty array of filter objects"))),
        }
    }

    fn entry(&mut self, k: &str, v: &Value) -> Result<Node, String> {
        match k {
            "$and" => return Ok(Node::All(self.filters(k, v)?.into())),
            "$or" => return Ok(Node::Any(self.filters(k, v)?.into())),
            "$not" => {
                return match v {
                    Value::Object(m) => Ok(Node::Not(Box::new(self.object(m)?))),
                    _ => Err(self.at("`$not` takes a filter object")),
                }
            }
            _ => {}
        }
        if k.starts_with('$') {
            let test = self.operator(k, v)?;
            if self.path.is_empty() {
                return Err(format!(
                    "`{k}` at the top compares the whole event: put it under a field, e.g. {{\"type\":{{\"{k}\":…}}}}"
                ));
            }
            return Ok(self.guard(Node::Test(test)));
        }
        match self.path.as_slice() {
            [] => check_root(k)?,
            [root] => check_has_fields(root).map_err(|e| self.at(e))?,
            _ => {}
        }
        let enriched = self.path.len() == 1 && ENRICHED_FIELDS.contains(&k);
        self.path.push(k.to_owned());
        let child = self.value(v);
        self.path.pop();
        let node = Node::Field(k.into(), Box::new(child?));
        if enriched {
            self.needs_enrichment = true;
            Ok(Node::Enriched(Box::new(node)))
        } else {
            Ok(node)
        }
    }

    /// What a field's filter value means: a nested filter, or equality.
    fn value(&mut self, v: &Value) -> Result<Node, String> {
        match v {
            Value::Object(m) if m.is_empty() => Err(self.at(
                "an empty object matches anything: write {\"$exist\":true}, or {\"$eq\":{}} for an empty object",
            )),
            Value::Object(m) => self.object(m),
            _ => Ok(self.guard(Node::Test(Test::Eq(v.clone())))),
        }
    }

    fn operator(&self, op: &str, v: &Value) -> Result<Test, String> {
        let cmp = |c: Cmp| match v {
            Value::Number(n) => Ok(Test::Cmp(c, Bound::Num(n.clone()))),
            Value::String(s) => Ok(Test::Cmp(c, Bound::Str(s.as_str().into()))),
            _ => Err(self.at(format!("`{op}` takes a number or a string"))),
        };
        let list = || match v {
            Value::Array(a) => Ok(a.clone().into_boxed_slice()),
            _ => Err(self.at(format!("`{op}` takes an array of values"))),
        };
        let text = || match v {
            Value::String(s) => Ok(Box::<str>::from(s.as_str())),
            _ => Err(self.at(format!("`{op}` takes a string"))),
        };
        Ok(match op {
            "$eq" => Test::Eq(v.clone()),
            "$neq" => Test::Neq(v.clone()),
            "$in" => Test::In(list()?),
            "$nin" => Test::Nin(list()?),
            "$gt" => cmp(Cmp::Gt)?,
            "$gte" => cmp(Cmp::Gte)?,
            "$lt" => cmp(Cmp::Lt)?,
            "$lte" => cmp(Cmp::Lte)?,
            "$exist" | "$exists" => match v {
                Value::Bool(b) => Test::Exist(*b),
                _ => return Err(self.at(format!("`{op}` takes true or false"))),
            },
            "$startsWith" => Test::StartsWith(text()?),
            "$endsWith" => Test::EndsWith(text()?),
            _ => {
                return Err(self.at(format!(
                    "unknown operator `{op}`: use $eq, $neq, $in, $nin, $gt, $gte, $lt, $lte, $exist, $startsWith, $endsWith, $and, $or or $not"
                )))
            }
        })
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
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_num(x, y) == Some(Ordering::Equal),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            digits_eq(n, s)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

impl Test {
    fn eval(&self, cur: Option<&Value>) -> bool {
        let or_null = || cur.unwrap_or(&Value::Null);
        match self {
            Test::Eq(x) => json_eq(or_null(), x),
            Test::Neq(x) => !json_eq(or_null(), x),
            Test::In(xs) => xs.iter().any(|x| json_eq(or_null(), x)),
            Test::Nin(xs) => !xs.iter().any(|x| json_eq(or_null(), x)),
            Test::Exist(want) => cur.is_some() == *want,
            Test::StartsWith(p) => cur
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with(&**p)),
            Test::EndsWith(p) => cur
                .and_then(Value::as_str)
                .is_some_and(|s| s.ends_with(&**p)),
            Test::Cmp(c, bound) => {
                let ord = match (cur, bound) {
                    (Some(Value::Number(n)), Bound::Num(b)) => cmp_num(n, b),
                    (Some(Value::String(s)), Bound::Str(b)) => Some(s.as_str().cmp(b)),
                    _ => None,
                };
                ord.is_some_and(|o| match c {
                    Cmp::Gt => o == Ordering::Greater,
                    Cmp::Gte => o != Ordering::Less,
                    Cmp::Lt => o == Ordering::Less,
                    Cmp::Lte => o != Ordering::Greater,
                })
            }
        }
    }
}

impl Node {
    fn eval(&self, cur: Option<&Value>, pending: bool) -> Tri {
        match self {
            Node::All(nodes) => {
                let mut acc = Tri::Yes;
                for n in nodes.iter() {
                    acc = acc.min(n.eval(cur, pending));
                    if acc == Tri::No {
                        break;
                    }
                }
                acc
            }
            Node::Any(nodes) => {
                let mut acc = Tri::No;
                for n in nodes.iter() {
                    acc = acc.max(n.eval(cur, pending));
                    if acc == Tri::Yes {
                        break;
                    }
                }
                acc
            }
            Node::Not(n) => match n.eval(cur, pending) {
                Tri::Yes => Tri::No,
                Tri::No => Tri::Yes,
                Tri::Unknown => Tri::Unknown,
            },
            Node::Field(k, n) => {
                let child = cur.and_then(Value::as_object).and_then(|m| m.get(&**k));
                n.eval(child, pending)
            }
            Node::Enriched(_) if pending => Tri::Unknown,
            Node::Enriched(n) => n.eval(cur, pending),
            Node::Test(t) => t.eval(cur).into(),
        }
    }
}

impl Node {
    /// Adds what this node reads, `at` being the field names from the event's root.
    fn needs<'a>(&'a self, at: &mut Vec<&'a str>, out: &mut Needs) {
        match self {
            Node::All(nodes) | Node::Any(nodes) => nodes.iter().for_each(|n| n.needs(at, out)),
            Node::Not(n) | Node::Enriched(n) => n.needs(at, out),
            Node::Field(k, n) => {
                at.push(k);
                n.needs(at, out);
                at.pop();
            }
            Node::Test(_) => out.add_keys(at.iter().copied()),
        }
    }
}

impl Filter {
    /// The parts of the event the filter reads: evaluate against `needs().pick(ev)` instead of
    /// the whole `event_value(ev)` to skip building what it ignores.
    pub fn needs(&self) -> Needs {
        let mut out = Needs::default();
        self.root.needs(&mut Vec::new(), &mut out);
        out
    }

    /// Whether `event` (the structured CloudEvent as a JSON object, enriched when the target
    /// is) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.eval(Some(event), false) == Tri::Yes
    }

    /// Before enrichment: false only when `event` cannot match whatever enrichment adds, so
    /// the event can be dropped for this target without calling the API. Equals `matches` for
    /// a filter that reads neither enriched fields nor `data` as a whole; `matches` implies it.
    pub fn may_match(&self, event: &Value) -> bool {
        self.root.eval(Some(event), true) != Tri::No
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
