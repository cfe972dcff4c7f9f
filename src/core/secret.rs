//! Secrets (tokens, keys, secret header values) in a type whose `Debug` and `Display` print a
//! redaction, so no `{:?}` or `format!` can leak one into a log, a record or an answer.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Removes every secret (of 4 bytes or more) from a text about to be shown, logged or stored.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_owned(), |t, s| replace_all(&t, s, "[redacted]"))
}

/// `text.replace(needle, with)` by a byte-wise search: a `&str` pattern links core's two-way
/// searcher (~4 KB wasm) for what are short error texts here. A match of a UTF-8 needle in
/// UTF-8 text always starts and ends on character boundaries.
pub fn replace_all(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = (rest.as_bytes().windows(needle.len())).position(|w| w == needle.as_bytes())
    {
        let (Some(head), Some(tail)) = (rest.get(..i), rest.get(i + needle.len()..)) else {
            break;
        };
        out.push_str(head);
        out.push_str(with);
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2-token");
        let shown = format!("{s} {s:?} {:?}", vec![s.clone()]);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(s.expose(), "hunter2-token");
    }
}
