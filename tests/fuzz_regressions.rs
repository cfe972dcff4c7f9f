//! Inputs the fuzz targets in `fuzz/` found, kept so a plain `cargo test` guards against their
//! return, and hostile inputs around them with the exact answer each must get.
//!
//! `tests/fuzz_regressions/<expected>--<what>.json` are ingest bodies as the fuzzer wrote them:
//! `<expected>` is the error code the relay must answer, or `accepted`.

use b2b_relay::core::config::{self, Format, Target};
use b2b_relay::core::deliver::outbound;
use b2b_relay::core::deliver::retry::{parse_retry_after, Decision, Outcome, RetryPolicy};
use b2b_relay::core::event::{self, CloudEvent};
use b2b_relay::core::ingest::callback::{self, MAX_BODY_BYTES};
use b2b_relay::core::time::parse_http_date;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions")
}

/// `Ok(())` when accepted, else the error code; and every refusal is a 4xx.
fn outcome(body: &[u8]) -> Result<callback::Callback, String> {
    callback::parse(body).map_err(|e| {
        assert!((400..500).contains(&e.status()), "{e:?}");
        e.code().as_str().to_owned()
    })
}

fn code(body: &[u8]) -> String {
    match outcome(body) {
        Ok(cb) => panic!("accepted: {cb:?}"),
        Err(code) => code,
    }
}

/// A valid callback whose `data` is `data` and with `extra` fields added to the envelope.
fn callback_bytes(data: &[u8], extra: &[u8]) -> Vec<u8> {
    [
        &br#"{"scope":"store/company/created","store_id":"1001","data":"#[..],
        data,
        br#","hash":"abc","created_at":1700000000,"producer":"stores/abc123""#,
        extra,
        b"}",
    ]
    .concat()
}

fn callback_with(data: &str, extra: &str) -> Vec<u8> {
    callback_bytes(data.as_bytes(), extra.as_bytes())
}

fn bigcommerce_target() -> Target {
    let src = |name: &str| match name {
        "INGEST_TOKENS" => Some("t".to_owned()),
        "TARGETS" => Some(
            r#"[{"name":"bc","url":"https://bc.example.com/","format":"bigcommerce"}]"#.to_owned(),
        ),
        _ => None,
    };
    let target = config::load(&src).unwrap().targets.remove(0);
    assert_eq!(target.format, Format::Bigcommerce);
    target
}

#[test]
fn every_kept_fuzzer_input_gets_its_answer() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let want = name.split("--").next().unwrap();
        let body = std::fs::read(&path).unwrap();
        match (want, outcome(&body)) {
            ("accepted", Ok(_)) => {}
            ("accepted", Err(code)) => panic!("{name}: refused with {code}"),
            (want, Ok(_)) => panic!("{name}: accepted, want {want}"),
            (want, Err(code)) => assert_eq!(code, want, "{name}"),
        }
        seen += 1;
    }
    assert!(seen >= 4, "the regression inputs are missing");
}

/// Found by the `callback` target: without the original body (too large for the queue
/// message, or an operator test event), the rebuilt BigCommerce body re-serialized `data`
/// (`{"company_id": 1234}` became `{"company_id":1234}`), so it was no longer BigCommerce's
/// text and its `hash` no longer matched.
#[test]
fn a_rebuilt_callback_keeps_data_byte_for_byte() {
    let body =
        std::fs::read(dir().join("accepted--rebuilt-callback-keeps-data-spacing.json")).unwrap();
    let cb = callback::parse(&body).unwrap();
    let ev = event::normalize(cb, 0).into();
    let out = outbound::render(&bigcommerce_target(), &ev, None, 0);
    assert!(
        out.body.contains(r#""data":{"company_id": 1234}"#),
        "{}",
        out.body
    );
    let again = event::normalize(callback::parse(out.body.as_bytes()).unwrap(), 0);
    assert_eq!(again.id, ev.id);
    assert_eq!(again.data.get(), ev.data.get());
}

/// Rendering never panics, whatever `data` an event read back from the queue carries (it used
/// to go through `json!`, whose conversion panics on data nested deeper than 128 levels).
#[test]
fn rendering_deep_data_without_the_original_does_not_panic() {
    let data = format!("{{\"a\":{}1{}}}", "[".repeat(300), "]".repeat(300));
    let ev = CloudEvent::read(&serde_json::json!({
        "specversion": "1.0", "id": "0".repeat(64), "source": "https://api.bigcommerce.com/stores/abc",
        "type": "com.bigcommerce.company.created", "time": "2023-11-14T22:13:20Z",
        "datacontenttype": "application/json", "storehash": "abc", "storeid": "1",
        "bcscope": "store/company/created", "bchash": "ff", "data": {},
    }).to_string())
    .unwrap();
    let ev = CloudEvent {
        data: serde_json::value::RawValue::from_string(data.clone()).unwrap(),
        ..ev
    };
    let out = outbound::render(&bigcommerce_target(), &ev.into(), None, 0);
    assert!(out.body.contains(&data));
}

#[test]
fn deep_nesting_is_invalid_json() {
    // 10,000 `[`: not an object at all.
    assert_eq!(code("[".repeat(10_000).as_bytes()), "invalid_json");
    // Balanced, inside `data` and inside an unknown field: skipped by the envelope parse, but
    // more than JSON libraries read (serde_json stops at 128 levels).
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(code(&callback_with(&deep, "")), "invalid_json");
    let extra = format!(",\"x\":{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(code(&callback_with("{}", &extra)), "invalid_json");
    assert_eq!(
        code(format!("{{\"data\":{}", "{\"a\":".repeat(10_000)).as_bytes()),
        "invalid_json"
    );
    // Ordinary depth is fine.
    let nested = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    let cb = callback::parse(&callback_with(&nested, "")).unwrap();
    assert_eq!(cb.data.get(), nested);
}

#[test]
fn huge_numbers() {
    // Out of a double's range: unreadable for most JSON libraries.
    assert_eq!(code(&callback_with(r#"{"n":1e400}"#, "")), "invalid_json");
    assert_eq!(code(&callback_with("{}", r#","x":-1e400"#)), "invalid_json");
    // Large but representable: forwarded exactly as sent.
    let big = r#"{"company_id":123456789012345678901234567890,"f":1e300}"#;
    assert_eq!(
        callback::parse(&callback_with(big, "")).unwrap().data.get(),
        big
    );
    // In envelope fields: the field is named.
    let with_field = |field: &str, value: &str| {
        let mut v: serde_json::Map<String, Value> =
            serde_json::from_slice(&callback_with("{}", "")).unwrap();
        v.insert(field.into(), serde_json::from_str(value).unwrap());
        serde_json::to_vec(&v).unwrap()
    };
    assert_eq!(
        code(&with_field("created_at", "99999999999999999999")),
        "invalid_field"
    );
    assert_eq!(
        code(&with_field("created_at", "253402300800")),
        "invalid_field"
    );
    assert_eq!(
        code(&with_field("store_id", "18446744073709551616")),
        "invalid_field"
    );
    assert_eq!(
        callback::parse(&with_field("store_id", "18446744073709551615"))
            .unwrap()
            .store_id
            .as_deref(),
        Some("18446744073709551615")
    );
}

#[test]
fn invalid_utf8_anywhere_is_invalid_json() {
    for bad in [
        &b"\xff"[..],
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xe2\x82",
    ] {
        let string = [&b"\""[..], bad, b"\""].concat();
        let in_unknown = callback_bytes(b"{}", &[&b",\"x\":"[..], &string].concat());
        assert_eq!(
            code(&in_unknown),
            "invalid_json",
            "{bad:?} in an unknown field"
        );
        let in_data = callback_bytes(&[&b"{\"s\":"[..], &string, b"}"].concat(), b"");
        assert_eq!(code(&in_data), "invalid_json", "{bad:?} in data");
    }
    assert_eq!(code(b"{\"scope\":\"store/a/\xff\"}"), "invalid_json");
}

#[test]
fn lone_surrogates_are_invalid_json_and_pairs_are_fine() {
    for s in [r"\ud800", r"\udc00", r"\ud800\u0041", r"\udfff\ud800"] {
        let data = format!(r#"{{"s":"{s}"}}"#);
        assert_eq!(
            code(&callback_with(&data, "")),
            "invalid_json",
            "{s} in data"
        );
        let extra = format!(r#","x":"{s}""#);
        assert_eq!(
            code(&callback_with("{}", &extra)),
            "invalid_json",
            "{s} in an unknown field"
        );
        let hash = format!(
            r#"{{"scope":"store/a/b","store_id":"1","data":{{}},"hash":"{s}","created_at":1,"producer":"stores/a"}}"#
        );
        assert_eq!(code(hash.as_bytes()), "invalid_json", "{s} in hash");
    }
    let pair = r#"{"s":"\ud83d\ude00"}"#;
    assert_eq!(
        callback::parse(&callback_with(pair, ""))
            .unwrap()
            .data
            .get(),
        pair
    );
}

#[test]
fn duplicate_envelope_keys_are_invalid_json() {
    for field in [
        "scope",
        "store_id",
        "data",
        "hash",
        "created_at",
        "producer",
    ] {
        let dup = match field {
            "data" => r#","data":{}"#.to_owned(),
            "created_at" => r#","created_at":1"#.to_owned(),
            _ => format!(r#","{field}":"x""#),
        };
        assert_eq!(code(&callback_with("{}", &dup)), "invalid_json", "{field}");
    }
    // Unknown fields and keys inside `data` are not the relay's to judge: forwarded as sent.
    assert!(callback::parse(&callback_with("{}", r#","x":1,"x":2"#)).is_ok());
    let data = r#"{"k":1,"k":2}"#;
    assert_eq!(
        callback::parse(&callback_with(data, ""))
            .unwrap()
            .data
            .get(),
        data
    );
}

#[test]
fn sixty_four_kib_strings() {
    let pad_to = |len: usize| {
        let base = callback_with("{}", ",\"x\":\"\"");
        let fill = "a".repeat(len - base.len());
        callback_with("{}", &format!(",\"x\":\"{fill}\""))
    };
    let at_limit = pad_to(MAX_BODY_BYTES);
    assert_eq!(at_limit.len(), MAX_BODY_BYTES);
    assert!(callback::parse(&at_limit).is_ok());
    let over = pad_to(MAX_BODY_BYTES + 1);
    let e = callback::parse(&over).unwrap_err();
    assert_eq!((e.status(), e.code().as_str()), (413, "payload_too_large"));

    let long = "a".repeat(64 * 1024 - 200);
    let body = format!(
        r#"{{"scope":"store/a/b","store_id":"1","data":{{}},"hash":"{long}","created_at":1,"producer":"stores/a"}}"#
    );
    assert_eq!(code(body.as_bytes()), "invalid_field");
    let body = format!(
        r#"{{"scope":"store/{long}","store_id":"1","data":{{}},"hash":"a","created_at":1,"producer":"stores/a"}}"#
    );
    assert_eq!(code(body.as_bytes()), "invalid_field");
    let data = format!(r#"{{"note":"{long}"}}"#);
    assert_eq!(
        callback::parse(&callback_with(&data, ""))
            .unwrap()
            .data
            .get(),
        data
    );
}

#[test]
fn every_truncation_of_a_valid_callback_is_refused() {
    let body = callback_with(r#"{"company_id": 1234, "note":"\ud83d\ude00 \"q\""}"#, "");
    assert!(callback::parse(&body).is_ok());
    for n in 0..body.len() {
        assert_eq!(code(&body[..n]), "invalid_json", "first {n} bytes");
    }
}

/// Found by the `config` target: a non-ASCII host (here an invalid-UTF-8 byte the runtime sees
/// as U+FFFD) passed `check_url`, so every delivery to it would fail with a URL error instead of
/// the configuration being refused. The same check now catches other hosts and ports the
/// runtime's URL parser refuses, and plain http to a name that merely starts with `127.`.
#[test]
fn urls_the_runtime_cannot_fetch_are_configuration_errors() {
    let text =
        String::from_utf8_lossy(&std::fs::read(dir().join("config--non-ascii-host.txt")).unwrap())
            .into_owned();
    let lines: Vec<&str> = text.splitn(5, '\n').collect();
    let src = |name: &str| match name {
        "TARGETS" => Some(lines[0].to_owned()),
        "INGEST_TOKENS" => Some(lines[1].to_owned()),
        "DEDUP_TTL_SECONDS" => Some(lines[2].to_owned()),
        "RETRY_SCHEDULE_SECONDS" => Some(lines[3].to_owned()),
        "BC_B2B_API_BASE" | "LOG_DELIVERIES" | "HISTORY_DAYS" => None,
        "INGEST_AUTH" | "SIGNATURE_TOLERANCE_SECONDS" | "DEDUP_MODE" => None,
        n if n.starts_with("BC_") || n == "PUBLIC_URL" => None,
        _ => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
    };
    let errors = config::load(&src).unwrap_err();
    assert_eq!(errors, ["TARGETS[1] \"erp\": url has an invalid host (ASCII letters, digits, `-`, `_`, `.`, or an IP address)"]);

    for bad in [
        "https://exa\u{fffd}mple.com/",
        "https://bücher.example/",
        "https://a^b.example/",
        "https://a%41.example/",
        "https://[abc/",
        "https://[::g]/",
        "https://1.2.3.999/",
        "https://a.1/",
        "https://0x7f.1/",
        "https://a.example:+443/",
        "http://127.evil.example/",
        "http://127.0.0.1.evil.example/",
        // Once an accepted gap: `xn--zz` is not punycode, so no runtime can fetch it.
        "https://xn--zz.example/",
    ] {
        assert!(config::check_url(bad).is_err(), "{bad}");
    }
    for good in [
        "https://crm.example.com/webhooks/bigcommerce",
        "https://Crm.Example.COM./x?y=1#z",
        "https://my_host-1.example:8443/",
        "https://10.0.0.1/",
        "https://[2001:db8::1]:443/",
        "http://127.0.0.1:8788/events",
        "http://127.1.2.3/",
        "http://localhost:9000/",
        "http://[::1]/",
        "https://xn--bcher-kva.example/",
    ] {
        assert_eq!(config::check_url(good), Ok(()), "{good}");
    }
}

/// Found by the `retry` target: a 12-digit year in `Retry-After` overflowed i64 while being
/// converted to seconds (a panic in debug builds, a wrapped, meaningless delay in release).
#[test]
fn retry_after_dates_never_overflow() {
    assert_eq!(
        parse_http_date("Sun, 06 Nov 429496729619 08:49:37 GMT"),
        None
    );
    assert_eq!(
        parse_retry_after(", 06 Nov 429496729619 08:49:37 GMT", 1_700_000_000),
        None
    );
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 -8:49:37 GMT"), None);
    assert_eq!(parse_http_date("Sun, 06 Nov 99999 08:49:37 GMT"), None);
    // Extreme clocks saturate instead of overflowing.
    let date = "Tue, 14 Nov 2023 22:13:20 GMT";
    assert_eq!(parse_retry_after(date, i64::MIN), Some(u32::MAX));
    assert_eq!(parse_retry_after(date, i64::MAX), Some(0));
    assert_eq!(parse_retry_after("99999999999999999999", 0), None);
    assert_eq!(parse_retry_after("4294967296", 0), Some(u32::MAX));
    // And the decision still caps the delay at what Queues allows.
    let d = RetryPolicy::default().decide(
        &Outcome::Status {
            code: 503,
            retry_after: parse_retry_after(date, i64::MIN),
        },
        1,
        8,
        0,
    );
    assert_eq!(
        d,
        Decision::Retry {
            delay_seconds: 43_200
        }
    );
}
