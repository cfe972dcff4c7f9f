//! Base64 (RFC 4648) as the relay reads and writes it: the standard alphabet with padding
//! (signatures, `whsec_` keys, quarantined bodies) and the URL-safe one without (history
//! cursors). Exactly what the `base64` crate's `STANDARD`, `URL_SAFE_NO_PAD` and
//! padding-indifferent engines accept and produce: that crate is the oracle of the tests
//! (`tests::same_as_the_base64_crate`), not a dependency of the wasm, where its general-purpose
//! engine was ~5 KB for a few short strings.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// How `=` padding is treated when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// The canonical padding must be there (`STANDARD`).
    Required,
    /// No `=` at all (`URL_SAFE_NO_PAD`).
    Absent,
    /// Canonical padding, some of it or none (`DecodePaddingMode::Indifferent`).
    Either,
}

fn encode_with(bytes: &[u8], table: &[u8; 64], pad: bool, out: &mut String) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // A chunk of k bytes gives k + 1 symbols.
        for i in 0..=chunk.len() {
            out.push(char::from(table[(n >> (18 - 6 * i) & 63) as usize]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
}

/// Standard alphabet, padded, appended to `out`.
pub fn encode_to(bytes: &[u8], out: &mut String) {
    encode_with(bytes, STANDARD, true, out);
}

/// Standard alphabet, padded.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    encode_to(bytes, &mut out);
    out
}

/// URL-safe alphabet, unpadded.
pub fn encode_url(bytes: &[u8]) -> String {
    let mut out = String::new();
    encode_with(bytes, URL_SAFE, false, &mut out);
    out
}

fn value(table: &[u8; 64], symbol: u8) -> Option<u32> {
    table.iter().position(|&s| s == symbol).map(|v| v as u32)
}

fn decode_with(text: &str, table: &[u8; 64], padding: Padding) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let symbols = bytes.iter().take_while(|&&b| b != b'=').count();
    let pads = bytes.len() - symbols;
    // Symbols left over after the last group of four: 1 cannot carry a byte.
    let partial = symbols % 4;
    let canonical = (4 - partial) % 4;
    let padding_ok = match padding {
        Padding::Required => pads == canonical,
        Padding::Absent => pads == 0,
        Padding::Either => pads <= canonical,
    };
    // After the first `=` only `=` may follow (the count above stops at it).
    if partial == 1 || !padding_ok || bytes[symbols..].iter().any(|&b| b != b'=') {
        return None;
    }
    let mut out = Vec::with_capacity(symbols / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in &bytes[..symbols] {
        acc = (acc << 6 | value(table, b)?) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // The bits of the last symbol that make no byte must be zero (one encoding per input).
    (acc & ((1 << bits) - 1) == 0).then_some(out)
}

/// Standard alphabet; `padding` says how `=` is treated.
pub fn decode(text: &str, padding: Padding) -> Option<Vec<u8>> {
    decode_with(text, STANDARD, padding)
}

/// URL-safe alphabet, unpadded.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    decode_with(text, URL_SAFE, Padding::Absent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{
        GeneralPurpose, GeneralPurposeConfig, STANDARD as B_STANDARD,
        URL_SAFE_NO_PAD as B_URL_SAFE_NO_PAD,
    };
    use base64::engine::DecodePaddingMode;
    use base64::Engine;

    const B_EITHER: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    /// A small deterministic generator: no `rand` needed for an oracle test.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    #[test]
    fn rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded, Padding::Required).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn same_as_the_base64_crate() {
        let mut r = Lcg(7);
        for _ in 0..20_000 {
            let len = (r.next() % 70) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
            assert_eq!(encode(&bytes), B_STANDARD.encode(&bytes));
            assert_eq!(encode_url(&bytes), B_URL_SAFE_NO_PAD.encode(&bytes));
        }
        // Texts from a small alphabet, so that every padding, length and trailing-bits case
        // comes up many times.
        let symbols = b"AQgw/+-_=a9 \n\xc3";
        for _ in 0..200_000 {
            let len = (r.next() % 11) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| symbols[(r.next() % symbols.len() as u64) as usize])
                .collect();
            let Ok(text) = String::from_utf8(text) else {
                continue;
            };
            assert_eq!(
                decode(&text, Padding::Required),
                B_STANDARD.decode(&text).ok(),
                "{text:?}"
            );
            assert_eq!(
                decode(&text, Padding::Either),
                B_EITHER.decode(&text).ok(),
                "{text:?}"
            );
            assert_eq!(
                decode_url(&text),
                B_URL_SAFE_NO_PAD.decode(&text).ok(),
                "{text:?}"
            );
        }
    }
}
