//! Checked JSON values without a `serde_json::Value`: for the envelope of a callback and the
//! ids in its `data`, where only strings and whole numbers matter and the rest must merely be
//! valid JSON.

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
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
