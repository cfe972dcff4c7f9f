//! Error texts from the runtime (a failed fetch can quote the URL it was given) are stored in
//! queue messages, dead-letter records and logs. Before that they lose every URL's query
//! string, fragment and user info, and every header value of the target, and keep one line.

use crate::core::config::Target;
use crate::core::deliver::retry::Outcome;
use crate::core::secret;

/// Longest error text kept: enough for a runtime's message, not for a stack trace.
const MAX_ERROR_CHARS: usize = 300;

pub fn outcome(outcome: Outcome, target: &Target) -> Outcome {
    match outcome {
        Outcome::Network(e) => {
            let values: Vec<&str> = target.headers.iter().map(|(_, v)| v.expose()).collect();
            Outcome::Network(text(&e, &values))
        }
        other => other,
    }
}

/// `raw` without query strings, fragments or user info in its URLs, without `secrets`, on one
/// line of at most [`MAX_ERROR_CHARS`] characters.
pub fn text(raw: &str, secrets: &[&str]) -> String {
    let first = raw.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first.len());
    let mut rest = first;
    while let Some(i) = url_start(rest) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let end = tail
            .bytes()
            .position(|b| {
                b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b')')
            })
            .unwrap_or(tail.len());
        out.push_str(&clean_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    let redacted = secret::redact(&out, secrets);
    redacted.chars().take(MAX_ERROR_CHARS).collect()
}

// Byte-wise searches throughout: `&str` and `char` patterns link core's searchers (~4 KB wasm).
fn url_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| {
        let rest = &b[i..];
        (rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"http://"))
            || (rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"https://"))
    })
}

/// Scheme, host and path only. `url` starts with `http://` or `https://` (ASCII), so every
/// index below is a character boundary.
fn clean_url(url: &str) -> String {
    let b = url.as_bytes();
    let cut = b
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(b.len());
    let scheme_end = b
        .iter()
        .position(|&c| c == b':')
        .map_or(0, |i| i + 3)
        .min(cut);
    let authority_end = b[scheme_end..cut]
        .iter()
        .position(|&c| c == b'/')
        .map_or(cut, |i| scheme_end + i);
    let host_start = b[scheme_end..authority_end]
        .iter()
        .rposition(|&c| c == b'@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let (Some(scheme), Some(host_and_path)) = (url.get(..scheme_end), url.get(host_start..cut))
    else {
        return String::new();
    };
    format!("{scheme}{host_and_path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_fragment_and_user_info() {
        assert_eq!(
            text(
                "fetch https://u:p@crm.example/a/b?token=s3cret#x failed",
                &[]
            ),
            "fetch https://crm.example/a/b failed"
        );
        assert_eq!(
            text("(\"HTTP://h.example?k=v\") and http://x/y?z", &[]),
            "(\"HTTP://h.example\") and http://x/y"
        );
    }

    #[test]
    fn secrets_and_later_lines_are_gone() {
        let got = text("bad key ABCD1234 here\n    at stack frame", &["ABCD1234"]);
        assert_eq!(got, "bad key [redacted] here");
        assert!(text(&"x".repeat(1000), &[]).len() <= MAX_ERROR_CHARS);
    }
}
