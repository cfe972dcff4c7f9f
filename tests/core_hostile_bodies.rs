//! Bodies the soak run (tests/soak) found accepted although they are not valid callbacks: the
//! envelope keeps `data` raw and skips unknown fields, so they need a check of their own.

use b2b_relay::core::ingest::callback;

const GOOD: &str = r#"{"scope":"store/company/created","store_id":"1001","data":{"company_id":1234},"hash":"0123456789abcdef0123456789abcdef01234567","created_at":1700000000,"producer":"stores/abc123"}"#;

/// GOOD with `data` replaced by `data` and an extra field `note` holding `note` (raw bytes).
fn body(data: &str, note: &[u8]) -> Vec<u8> {
    let mut b = GOOD
        .replace(r#"{"company_id":1234}"#, data)
        .trim_end_matches('}')
        .as_bytes()
        .to_vec();
    b.extend_from_slice(br#","note":""#);
    b.extend_from_slice(note);
    b.extend_from_slice(br#""}"#);
    b
}

fn code(b: &[u8]) -> String {
    match callback::parse(b) {
        Ok(_) => "accepted".into(),
        Err(e) => e.code().as_str().to_owned(),
    }
}

#[test]
fn a_plain_callback_with_an_extra_field_is_still_accepted() {
    assert_eq!(
        code(&body(r#"{"company_id":1,"deep":[[[[1]]]]}"#, b"ok")),
        "accepted"
    );
}

#[test]
fn invalid_utf8_anywhere_is_invalid_json() {
    for bad in [&b"\xff"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82"] {
        assert_eq!(
            code(&body(r#"{"company_id":1}"#, bad)),
            "invalid_json",
            "{bad:?} in an unknown field"
        );
    }
}

#[test]
fn deep_nesting_in_data_or_unknown_fields_is_invalid_json() {
    let deep = format!(
        r#"{{"company_id":1,"x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(code(&body(&deep, b"ok")), "invalid_json");
    let mut b = GOOD.trim_end_matches('}').to_owned();
    b.push_str(&format!(r#","x":{}{}}}"#, "[".repeat(200), "]".repeat(200)));
    assert_eq!(code(b.as_bytes()), "invalid_json");
}

#[test]
fn out_of_range_numbers_and_lone_surrogates_in_data_are_invalid_json() {
    assert_eq!(
        code(&body(r#"{"company_id":1e400}"#, b"ok")),
        "invalid_json"
    );
    assert_eq!(
        code(&body(r#"{"company_id":1,"n":"\ud800"}"#, b"ok")),
        "invalid_json"
    );
}
