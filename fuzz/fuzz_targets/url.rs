//! Arbitrary text → the URL rules (`core::config::url`), alone and behind `https://` and
//! `http://` so hosts are reached at once. Never panics; every URL the rules accept, the WHATWG
//! URL parser (the `url` crate, as the runtime's `fetch`) accepts as written (`oracle.rs`);
//! every problem names the setting it was asked about; a base that passes `check_base` has no
//! trailing slash, query or fragment and passes the rules again.
#![no_main]

mod oracle;

use b2b_relay::core::config::url::{check_base, check_setting};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for u in [
        text.to_string(),
        format!("https://{text}"),
        format!("http://{text}"),
    ] {
        oracle::check(&u);
        if let Err(e) = check_setting("BC_API_BASE", &u) {
            assert!(e.starts_with("BC_API_BASE "), "{e}");
        }
        if let Ok(base) = check_base("BC_B2B_API_BASE", &u) {
            assert!(!base.ends_with('/') && !base.contains(['?', '#']), "{base}");
            assert!(oracle::check(&base), "{base}");
        }
    }
});
