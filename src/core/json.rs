//! Checked JSON values without a `serde_json::Value`: for the envelope of a callback and the
//! ids in its `data`, where only strings and whole numbers matter and the rest must merely be
//! valid JSON.

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::Cell;
use std::marker::PhantomData;

/// A JSON value as far as a field that wants a string or a number cares, read through
/// `deserialize_any` so that serde_json checks every string (UTF-8, escapes, surrogates), every
/// number's range and the nesting depth on the way: what a `serde_json::Value` parse checks,
/// without building one. Arrays and objects are checked and dropped; strings are borrowed from
/// the input unless they contain escapes. Reading one only to drop it is how any JSON value is
/// checked.
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    /// Negative integers only.
    I64(i64),
    Float,
    Null,
    /// `true`, `false`, an array or an object.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<'a>(PhantomData<Scalar<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
        Ok(u64::try_from(v).map_or(Scalar::I64(v), Scalar::U64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Float)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
        while seq.next_element::<Scalar>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
        while map.next_entry::<Scalar, Scalar>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// The members of one JSON object, each kept as its raw text: how the relay reads its own
/// records (queue messages, CloudEvents, dead letters) field by field. A derived `Deserialize`
/// is a visitor per type, with a sequence form JSON never uses: several KB of wasm each. This
/// is one visitor for every object, and a field is read with the shared readers of its type.
/// Unknown members are ignored; a member read whose name is repeated is an error, as serde's
/// derived readers made it.
pub struct Fields<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// Some name is repeated: only then must a lookup see every member, to refuse the repeat.
    repeated: bool,
    /// The member after the last one found, tried first: members are mostly read in the order
    /// they were written, so a lookup usually compares one name (a full scan per lookup was a
    /// tenth of the consumer's wasm).
    next: Cell<usize>,
}

impl<'a> Fields<'a> {
    pub fn parse(text: &'a str) -> Result<Fields<'a>, String> {
        serde_json::from_str(text).map_err(|e| message(&e))
    }

    /// Every member, in order.
    pub fn members(&self) -> &[(Cow<'a, str>, &'a RawValue)] {
        &self.members
    }

    /// Refuses a member whose name is not in `known`, in serde's words (a typo stays visible).
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.members.iter().find(|(k, _)| !known.contains(&&**k)) {
            Some((k, _)) => Err(format!(
                "unknown field `{k}`, expected one of `{}`",
                known.join("`, `")
            )),
            None => Ok(()),
        }
    }

    /// The member's raw JSON, `null` included; a repeated name is an error.
    pub fn raw(&self, name: &str) -> Result<Option<&'a RawValue>, String> {
        if self.repeated {
            let mut found = self.members.iter().filter(|(k, _)| k == name);
            return match (found.next(), found.next()) {
                (Some(_), Some(_)) => Err(format!("duplicate field `{name}`")),
                (one, _) => Ok(one.map(|(_, v)| *v)),
            };
        }
        let at = self.next.get();
        let i = match self.members.get(at) {
            Some((k, _)) if k == name => Some(at),
            _ => self.members.iter().position(|(k, _)| k == name),
        };
        Ok(i.map(|i| {
            self.next.set(i + 1);
            self.members[i].1
        }))
    }

    /// The member's raw JSON unless it is absent or `null`.
    pub fn present(&self, name: &str) -> Result<Option<&'a RawValue>, String> {
        Ok(self.raw(name)?.filter(|r| r.get() != "null"))
    }

    /// A required member's raw JSON, in serde's words when it is absent.
    pub fn need(&self, name: &str) -> Result<&'a RawValue, String> {
        self.raw(name)?
            .ok_or_else(|| format!("missing field `{name}`"))
    }

    /// A required member.
    pub fn get<T: Deserialize<'a>>(&self, name: &str) -> Result<T, String> {
        read(name, self.need(name)?)
    }

    /// An optional member: absent or `null` is `None`.
    pub fn opt<T: Deserialize<'a>>(&self, name: &str) -> Result<Option<T>, String> {
        match self.raw(name)? {
            None => Ok(None),
            Some(raw) => read(name, raw),
        }
    }

    /// A required whole number of type `T`, read as a `u64` (one number reader in the wasm
    /// for every integer type: serde_json's is ~0.9 KB per type).
    pub fn whole<T: Whole>(&self, name: &str) -> Result<T, String> {
        narrow(name, self.get::<u64>(name)?)
    }

    /// An optional whole number: absent or `null` is `None`.
    pub fn opt_whole<T: Whole>(&self, name: &str) -> Result<Option<T>, String> {
        self.opt::<u64>(name)?.map(|n| narrow(name, n)).transpose()
    }

    /// An optional member with a default for absent or `null`.
    pub fn or_default<T: Deserialize<'a> + Default>(&self, name: &str) -> Result<T, String> {
        Ok(self.opt(name)?.unwrap_or_default())
    }

    /// A required member as owned raw JSON, copied without parsing it again: the parse that
    /// found it checked it (a re-read was a fifth of the consumer's JSON work per message).
    pub fn raw_owned(&self, name: &str) -> Result<Box<RawValue>, String> {
        self.need(name).map(ToOwned::to_owned)
    }

    /// A required string: [`Fields::get`], with the common case (no escapes) copied directly.
    pub fn string(&self, name: &str) -> Result<String, String> {
        text(name, self.need(name)?)
    }

    /// An optional string: absent or `null` is `None`.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        self.present(name)?.map(|raw| text(name, raw)).transpose()
    }

    /// An optional string, empty for absent or `null`.
    pub fn string_or_default(&self, name: &str) -> Result<String, String> {
        Ok(self.opt_string(name)?.unwrap_or_default())
    }
}

/// True when `name` is among `members`, the cheap differences compared first: every new
/// member of a parse is compared with the ones before it.
fn known(members: &[(Cow<'_, str>, &RawValue)], name: &str) -> bool {
    let last = name.as_bytes().last();
    members
        .iter()
        .any(|(m, _)| m.len() == name.len() && m.as_bytes().last() == last && m == name)
}

/// A member read as `T`, its errors named by the member.
fn read<'a, T: Deserialize<'a>>(name: &str, raw: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| format!("field `{name}`: {}", message(&e)))
}

/// A member read as a string, copied directly when it has no escapes.
fn text(name: &str, raw: &RawValue) -> Result<String, String> {
    match plain(raw) {
        Some(s) => Ok(s.to_owned()),
        None => read(name, raw),
    }
}

/// The text of a JSON string without escapes. The parse that produced `raw` validated it, so
/// with no backslash inside, the text between the quotes is the string itself.
fn plain(raw: &RawValue) -> Option<&str> {
    let inner = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// The integer types [`Fields::whole`] reads, with the name serde would say.
pub trait Whole: TryFrom<u64> {
    const NAME: &'static str;
}

impl Whole for u16 {
    const NAME: &'static str = "u16";
}
impl Whole for u32 {
    const NAME: &'static str = "u32";
}
impl Whole for usize {
    const NAME: &'static str = "usize";
}

fn narrow<T: Whole>(name: &str, n: u64) -> Result<T, String> {
    T::try_from(n).map_err(|_| {
        format!(
            "field `{name}`: invalid value: integer `{n}`, expected {}",
            T::NAME
        )
    })
}

/// serde_json's message without its ` at line L column C`: a position in a member's own text
/// (or in re-encoded configuration) would mislead.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(t) => t.to_owned(),
        None => text,
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
        let mut repeated = false;
        while let Some(key) = map.next_key::<Scalar<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            if let Scalar::Str(k) = key {
                repeated = repeated || known(&members, &k);
                members.push((k, value));
            }
        }
        Ok(Fields {
            members,
            repeated,
            next: Cell::new(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Fields;

    #[test]
    fn fields_read_by_name_and_refuse_a_repeated_member_that_is_read() {
        let f = Fields::parse(r#"{"a":"x","n":null,"u":1,"u":2,"s":"\u0041"}"#).unwrap();
        assert_eq!(f.get::<String>("a").unwrap(), "x");
        assert_eq!(f.get::<String>("s").unwrap(), "A");
        assert_eq!(f.opt::<String>("n").unwrap(), None);
        assert_eq!(f.opt::<String>("absent").unwrap(), None);
        assert_eq!(f.present("n").unwrap().map(|r| r.get()), None);
        assert_eq!(
            f.get::<String>("absent").unwrap_err(),
            "missing field `absent`"
        );
        assert_eq!(f.get::<u32>("u").unwrap_err(), "duplicate field `u`");
        assert_eq!(
            f.get::<u32>("a").unwrap_err(),
            "field `a`: invalid type: string \"x\", expected u32"
        );
        assert!(Fields::parse("[1]").is_err());
    }

    #[test]
    fn whole_numbers_are_read_as_u64_and_narrowed_with_serdes_words() {
        let f = Fields::parse(r#"{"s":65535,"big":65536,"neg":-1,"x":"7","n":null}"#).unwrap();
        assert_eq!(f.whole::<u16>("s").unwrap(), 65535);
        assert_eq!(
            f.whole::<u16>("big").unwrap_err(),
            "field `big`: invalid value: integer `65536`, expected u16"
        );
        assert_eq!(f.whole::<u32>("big").unwrap(), 65536);
        assert!(f.whole::<usize>("neg").is_err());
        assert!(f.whole::<u32>("x").is_err());
        assert_eq!(f.opt_whole::<u32>("n").unwrap(), None);
        assert_eq!(f.opt_whole::<u32>("absent").unwrap(), None);
        assert_eq!(
            f.whole::<u32>("absent").unwrap_err(),
            "missing field `absent`"
        );
    }

    #[test]
    fn strings_read_directly_equal_serdes_reading_and_keep_its_errors() {
        let text = r#"{"p":"plain é","e":"a\"b\\c\u00e9\n","n":null,"u":1,"d":"x","d":"y"}"#;
        let f = Fields::parse(text).unwrap();
        for name in ["p", "e"] {
            assert_eq!(f.string(name).unwrap(), f.get::<String>(name).unwrap());
        }
        assert_eq!(f.string("e").unwrap(), "a\"b\\cé\n");
        assert_eq!(f.opt_string("n").unwrap(), None);
        assert_eq!(f.string_or_default("absent").unwrap(), "");
        assert_eq!(
            f.string("u").unwrap_err(),
            f.get::<String>("u").unwrap_err()
        );
        assert_eq!(f.string("d").unwrap_err(), "duplicate field `d`");
        assert_eq!(f.string("absent").unwrap_err(), "missing field `absent`");
        assert_eq!(f.raw_owned("e").unwrap().get(), r#""a\"b\\c\u00e9\n""#);
        assert_eq!(f.raw_owned("absent").unwrap_err(), "missing field `absent`");
    }

    proptest::proptest! {
        #[test]
        fn any_string_reads_back_as_written(s in ".*") {
            let text = serde_json::to_string(&serde_json::json!({ "s": s })).unwrap();
            let f = Fields::parse(&text).unwrap();
            proptest::prop_assert_eq!(f.string("s").unwrap(), s);
        }

        /// Lookups in any order, repeated, absent or duplicated names find what a scan of
        /// every member finds (a lookup tries the member after the last one found first).
        #[test]
        fn lookups_in_any_order_find_what_a_full_scan_finds(
            keys in proptest::collection::vec("[abc]{1,2}", 0..8),
            asks in proptest::collection::vec("[abcd]{1,2}", 0..12),
        ) {
            let members: Vec<String> =
                keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect();
            let text = format!("{{{}}}", members.join(","));
            let f = Fields::parse(&text).unwrap();
            for name in &asks {
                let mut found = keys.iter().enumerate().filter(|(_, k)| *k == name);
                let want = match (found.next(), found.next()) {
                    (Some(_), Some(_)) => Err(format!("duplicate field `{name}`")),
                    (one, _) => Ok(one.map(|(i, _)| i.to_string())),
                };
                let got = f.raw(name).map(|r| r.map(|r| r.get().to_owned()));
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
