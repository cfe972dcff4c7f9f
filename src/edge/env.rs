//! Configuration from the Worker environment, validated once per isolate (vars and secrets
//! cannot change without a new deployment, which starts new isolates).

use crate::core::config::{self, Config, Source};
use std::cell::OnceCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::Env;

pub type Loaded = Rc<Result<Config, Vec<String>>>;

struct EnvSource<'a>(&'a Env);

impl Source for EnvSource<'_> {
    fn text(&self, name: &str) -> Option<String> {
        let v = js_sys::Reflect::get(self.0.as_ref(), &JsValue::from_str(name)).ok()?;
        if v.is_undefined() || v.is_null() {
            return None;
        }
        if let Some(s) = v.as_string() {
            return Some(s);
        }
        // A [vars] table or array arrives as a JS value (object_var refuses arrays): give the
        // core JSON text, the same form as a secret or .dev.vars entry.
        js_sys::JSON::stringify(&v).ok()?.as_string()
    }
}

thread_local! {
    static CONFIG: OnceCell<Loaded> = const { OnceCell::new() };
}

pub fn config(env: &Env) -> Loaded {
    CONFIG.with(|c| {
        c.get_or_init(|| {
            let loaded = config::load(&EnvSource(env));
            if let Err(errors) = &loaded {
                crate::edge::log::config_errors(errors);
            }
            Rc::new(loaded)
        })
        .clone()
    })
}

/// A variable or secret by name, as text.
pub fn text(env: &Env, name: &str) -> Option<String> {
    EnvSource(env).text(name)
}

/// Test-only fault injection: `FAULTS` (comma-separated) names operations that fail on
/// purpose (`ingest_enqueue`, `replay_enqueue`, `dedup_lookup`, `dedup_mark`,
/// `dead_letter_put`, `unreadable_put`, `quarantine_put`, `ingest_parse`, `dedup_object`,
/// `consume_hand_back`, `consume_config_broken`, `raw_enqueue`), so tests can show what the relay does when
/// Cloudflare's storage fails; `ingest_enqueue_slow` holds each ingest enqueue 400 ms and
/// `no_coalesce` lets copies in flight together reach the dedup
/// object (tests of `DEDUP_MODE = "durable"` in one local isolate).
/// `point*N` fails only the first N times in an isolate (an outage that ends). Never set it in
/// production.
pub fn fault(env: &Env, point: &str) -> bool {
    // Read once per isolate, like the configuration: it is checked on every message.
    let spec = FAULTS.with(|f| f.get_or_init(|| text(env, "FAULTS").map(Rc::from)).clone());
    let Some(spec) = spec else {
        return false;
    };
    for p in spec.split(',').map(str::trim) {
        let (name, limit) = match p.split_once('*') {
            Some((n, k)) => (n, k.parse::<u32>().ok()),
            None => (p, None),
        };
        if name != point {
            continue;
        }
        let Some(limit) = limit else { return true };
        return FAULT_COUNTS.with(|c| {
            let mut c = c.borrow_mut();
            let used = c.entry(point.to_owned()).or_insert(0);
            *used += 1;
            *used <= limit
        });
    }
    false
}

thread_local! {
    static FAULTS: OnceCell<Option<Rc<str>>> = const { OnceCell::new() };
    static FAULT_COUNTS: std::cell::RefCell<std::collections::BTreeMap<String, u32>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// A plain variable with a default (not part of the validated configuration).
pub fn var_or(env: &Env, name: &str, default: &str) -> String {
    EnvSource(env)
        .text(name)
        .unwrap_or_else(|| default.to_owned())
}

/// `Date.now()`: one call, where `worker::Date::now()` makes a `Date` and asks it the time.
#[allow(clippy::cast_possible_truncation)] // whole milliseconds since 1970, far below 2^63
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Jitter for retry delays; a failed draw only costs jitter.
pub fn random_u32() -> u32 {
    getrandom::u32().unwrap_or(0)
}
