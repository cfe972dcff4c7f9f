//! The relay's per-event CPU work in the core, outside any runtime: parse + validate,
//! normalize (with the event id), the event's JSON (once), route to five targets, render and
//! sign five bodies. The queue hop between ingest and delivery (encoding a message, decoding it
//! in the consumer) is measured apart, per message, and so is authentication (BigCommerce's
//! signature, the bearer token), which comes before the hot path.
//! `make bench` runs it (`cargo bench --bench hot_path`); BENCHMARKS.md has the numbers.
//!
//! Besides criterion's timings it prints the heap allocations per event (a counting global
//! allocator) for the whole path and for each step, so what dominates is visible.

use b2b_relay::core::config::{self, Config};
use b2b_relay::core::deliver::message::{self, Delivery, Job};
use b2b_relay::core::deliver::outbound;
use b2b_relay::core::event::EncodedEvent;
use b2b_relay::core::ingest::auth::{self, AuthSettings, Mode};
use b2b_relay::core::ingest::callback;
use b2b_relay::core::ingest::signature::{SignatureHeaders, VerifyingKey};
use b2b_relay::core::{event, route};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts allocations (and bytes) made through the global allocator.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A typical callback (BigCommerce's documented company-user example).
const BODY: &[u8] = br#"{"scope":"store/company/user/created","store_id":"1001","data":{"company_id":123456,"user_id":321},"hash":"3f0c5d0b0a3e8d1a6d2c9a0e2b6f1c4d5e6f7a8b","created_at":1764288000,"producer":"stores/abc123"}"#;
const NOW: i64 = 1_764_288_001;
const NOW_MS: i64 = NOW * 1000;
const CLIENT_SECRET: &str = "bc-client-secret-0123456789abcdef";
const TOKEN: &str = "ingest-token-0123456789";
const WEBHOOK_ID: &str = "msg_2pLhA9yq0oRk0dlmqRuG1Y8zW0e";

/// `INGEST_AUTH=any` with one token and two client secrets (rotation: the signer's is second).
fn auth_settings() -> AuthSettings {
    AuthSettings::new(
        Mode::Any,
        &[TOKEN],
        &["old-client-secret", CLIENT_SECRET],
        300,
    )
}

/// BigCommerce's headers for BODY.
fn signature_header() -> String {
    VerifyingKey::from_client_secret(CLIENT_SECRET)
        .expect("a usable key")
        .sign(WEBHOOK_ID, NOW, BODY)
}

fn signed<'a>(signature: &'a str) -> SignatureHeaders<'a> {
    SignatureHeaders {
        id: Some(WEBHOOK_ID),
        timestamp: Some("1764288001"),
        signature: Some(signature),
    }
}

/// Five signed CloudEvents targets (the default format), all of which want the event, each
/// through a different kind of filter.
fn five_targets() -> Config {
    let targets = r#"[
      {"name":"crm","url":"https://crm.example.com/hooks","signing_secret":"KEY","headers":{"X-Api-Key":"secret:API_KEY"}},
      {"name":"erp","url":"https://erp.example.com/b2b","events":["company.*"],"signing_secret":"KEY"},
      {"name":"data","url":"https://data.example.com/in","events":["quote.*","company.user.*"],"signing_secret":"KEY"},
      {"name":"chat","url":"https://chat.example.com/hook","stores":["abc123"],"signing_secret":"KEY"},
      {"name":"audit","url":"https://audit.example.com/e","events":["*.created"],"signing_secret":"KEY"}
    ]"#;
    let src = |name: &str| -> Option<String> {
        match name {
            "INGEST_TOKENS" => Some("t".into()),
            "TARGETS" => Some(targets.into()),
            "KEY" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            "API_KEY" => Some("k-123".into()),
            _ => None,
        }
    };
    config::load(&src).expect("the benchmark configuration is valid")
}

/// One event through the whole hot path; returns the total body bytes so nothing is elided.
/// The event's JSON is made once (the first render) and shared by the five targets, as the
/// relay shares it between an event's queue messages.
fn hot_path(cfg: &Config, body: &[u8]) -> usize {
    let cb = callback::parse(body).expect("valid callback");
    let ev = EncodedEvent::new(event::normalize(cb, NOW_MS));
    let targets = route::route(&cfg.targets, &ev);
    targets
        .iter()
        .map(|t| outbound::render(t, &ev, None, NOW).body.len())
        .sum()
}

/// Allocations and bytes of one call of `f`, after a warm-up call.
fn allocations<R>(mut f: impl FnMut() -> R) -> (u64, u64) {
    black_box(f());
    let (a, b) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    black_box(f());
    (
        ALLOCS.load(Ordering::Relaxed) - a,
        BYTES.load(Ordering::Relaxed) - b,
    )
}

/// Allocations of `f(input)`, not counting the making of its input.
fn allocations_with<I, R>(make: impl Fn() -> I, f: impl Fn(I) -> R) -> (u64, u64) {
    let input = make();
    let (a, b) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    black_box(f(input));
    (
        ALLOCS.load(Ordering::Relaxed) - a,
        BYTES.load(Ordering::Relaxed) - b,
    )
}

fn report_allocations(cfg: &Config) {
    let cb = callback::parse(BODY).expect("valid callback");
    let ev = EncodedEvent::new(event::normalize(cb.clone(), NOW_MS));
    let targets = route::route(&cfg.targets, &ev);
    let message = delivery_message(&ev);
    let settings = auth_settings();
    let signature = signature_header();
    let rows: [(&str, (u64, u64)); 11] = [
        (
            "authenticate: signature",
            allocations(|| auth::authenticate(&settings, None, signed(&signature), BODY, NOW)),
        ),
        (
            "authenticate: token",
            allocations(|| {
                auth::authenticate(
                    &settings,
                    Some("Bearer ingest-token-0123456789"),
                    SignatureHeaders::default(),
                    BODY,
                    NOW,
                )
            }),
        ),
        ("hot path (one event)", allocations(|| hot_path(cfg, BODY))),
        ("  parse + validate", allocations(|| callback::parse(BODY))),
        (
            "  normalize (incl. id)",
            allocations_with(|| cb.clone(), |cb| event::normalize(cb, NOW_MS)),
        ),
        ("    event id", allocations(|| event::event_id(&cb))),
        (
            "  event JSON (once)",
            allocations_with(
                || EncodedEvent::new(ev.clone().into_event()),
                |e| e.json().len(),
            ),
        ),
        (
            "  route (5 targets)",
            allocations(|| route::route(&cfg.targets, &ev)),
        ),
        (
            "  render + sign x5",
            allocations(|| {
                targets
                    .iter()
                    .map(|t| outbound::render(t, &ev, None, NOW))
                    .collect::<Vec<_>>()
            }),
        ),
        (
            "queue message: encode",
            allocations_with(|| delivery(&ev), |mut j| message::encode(&mut j)),
        ),
        (
            "queue message: decode",
            allocations(|| message::decode(Some(&message))),
        ),
    ];
    println!("allocations per call (count, bytes):");
    for (name, (n, bytes)) in rows {
        println!("  {name:<26} {n:>4} allocs {bytes:>6} bytes");
    }
}

/// One of the event's queue messages (outside the hot path: it measures the queue hop).
fn delivery(ev: &EncodedEvent) -> Job {
    Job::Deliver(Delivery::first("crm", ev.clone(), None, NOW * 1000))
}

fn delivery_message(ev: &EncodedEvent) -> String {
    message::encode(&mut delivery(ev)).expect("a delivery encodes")
}

fn benches(c: &mut Criterion) {
    let cfg = five_targets();
    let cb = callback::parse(BODY).expect("valid callback");
    let ev = EncodedEvent::new(event::normalize(cb.clone(), NOW_MS));
    let targets = route::route(&cfg.targets, &ev);
    assert_eq!(targets.len(), 5, "every target wants the event");
    let settings = auth_settings();
    let signature = signature_header();
    assert!(auth::authenticate(&settings, None, signed(&signature), BODY, NOW).is_ok());
    let crm = targets[0];
    let message = delivery_message(&ev);

    c.bench_function("hot_path/one_event_five_targets", |b| {
        b.iter(|| hot_path(&cfg, black_box(BODY)))
    });
    c.bench_function("auth/signature_two_secrets", |b| {
        b.iter(|| {
            auth::authenticate(
                black_box(&settings),
                None,
                signed(black_box(&signature)),
                black_box(BODY),
                NOW,
            )
        })
    });
    c.bench_function("auth/token", |b| {
        b.iter(|| {
            auth::authenticate(
                black_box(&settings),
                Some(black_box("Bearer ingest-token-0123456789")),
                SignatureHeaders::default(),
                black_box(BODY),
                NOW,
            )
        })
    });
    c.bench_function("step/parse_validate", |b| {
        b.iter(|| callback::parse(black_box(BODY)))
    });
    c.bench_function("step/normalize", |b| {
        b.iter_batched(
            || cb.clone(),
            |cb| event::normalize(cb, NOW_MS),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("step/event_id", |b| {
        b.iter(|| event::event_id(black_box(&cb)))
    });
    c.bench_function("step/event_json_once", |b| {
        b.iter_batched(
            || EncodedEvent::new(ev.clone().into_event()),
            |e| e.json().len(),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("step/route_five", |b| {
        b.iter(|| route::route(black_box(&cfg.targets), black_box(&ev)))
    });
    c.bench_function("step/render_sign_one", |b| {
        b.iter(|| outbound::render(black_box(crm), black_box(&ev), None, NOW))
    });
    if let Some(key) = &crm.signing {
        c.bench_function("step/sign_only", |b| {
            b.iter(|| {
                key.sign(
                    black_box(&ev.id),
                    "1764288001",
                    black_box(ev.json().as_bytes()),
                )
            })
        });
    }
    c.bench_function("queue/encode_message", |b| {
        b.iter_batched(
            || delivery(&ev),
            |mut j| message::encode(&mut j),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("queue/decode_message", |b| {
        b.iter(|| message::decode(Some(black_box(&message))))
    });
    report_allocations(&cfg);
}

criterion_group! {
    name = hot;
    // Short runs: the machine is shared and the numbers are stable well before criterion's
    // defaults (5 s per benchmark).
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}

criterion_main!(hot);
