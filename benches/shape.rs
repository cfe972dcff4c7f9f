//! The cost of shaping one delivery: the structured CloudEvent as a `Value`, a body template's
//! render, a `where` filter's evaluation, a chat preset's render. Events are the golden ones
//! (tests/golden/events/), enriched with the API example in tests/golden/resources/.
//! `cargo bench --bench shape`; BENCHMARKS.md has the numbers.

use b2b_relay::core::deliver::enrich::{self, Enrichment};
use b2b_relay::core::deliver::presets::{self, Preset};
use b2b_relay::core::deliver::template;
use b2b_relay::core::event::{CloudEvent, EncodedEvent};
use b2b_relay::core::route::filter;
use b2b_relay::core::route::path::event_value;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const USER_EVENT: &str = include_str!("../tests/golden/events/company.user.created.json");
const COMPANY_EVENT: &str = include_str!("../tests/golden/events/company.created.json");
const COMPANY: &str = include_str!("../tests/golden/resources/company.json");

/// A receiver's own shape for any event, without enrichment: 7 placeholders.
const PLAIN_TEMPLATE: &str = r#"{
  "event": "{{ type }}", "id": "{{ id }}", "at": "{{ time }}", "store": "{{ storehash }}",
  "company": "{{ data.company_id }}", "user": "{{ data.user_id ?? 0 }}",
  "text": "New event {{ type }} about {{ subject ?? \"nothing\" }}",
  "source": "b2b-relay"
}"#;

/// A CRM's shape for enriched company events: 9 placeholders, names inside text.
const ENRICHED_TEMPLATE: &str = r#"{
  "kind": "company", "event": "{{ type }}", "id": "{{ id }}",
  "company": {"id": "{{ data.company_id }}", "name": "{{ data.resource.companyName ?? \"unknown\" }}",
              "status": "{{ data.resource.companyStatus }}", "email": "{{ data.resource.companyEmail }}"},
  "text": "Company {{ data.resource.companyName }} (#{{ data.company_id }}) in store {{ storehash }}",
  "enrichment": "{{ data.enrichment }}"
}"#;

fn event(text: &str) -> CloudEvent {
    CloudEvent::read(text).expect("a golden event")
}

fn enriched_company() -> CloudEvent {
    let mut resource: Value = serde_json::from_str(COMPANY).expect("the company example");
    resource["companyStatus"] = json!("0");
    let raw = RawValue::from_string(resource.to_string()).expect("JSON");
    enrich::apply(&event(COMPANY_EVENT), &Enrichment::Ok(raw))
}

/// Allocations per call of `f` (mean of 100 calls, after a warm-up call).
fn allocations<R>(mut f: impl FnMut() -> R) -> f64 {
    black_box(f());
    let a = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        black_box(f());
    }
    (ALLOCS.load(Ordering::Relaxed) - a) as f64 / 100.0
}

/// µs per call of `f`: the fastest of 300 batches of 200 calls. On a shared machine other
/// work only ever adds time, so the minimum is the stable figure; criterion's means move
/// with the load.
fn fastest<R>(mut f: impl FnMut() -> R) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..300 {
        let t = std::time::Instant::now();
        for _ in 0..200 {
            black_box(f());
        }
        best = best.min(t.elapsed().as_secs_f64() / 200.0);
    }
    best * 1e6
}

fn benches(c: &mut Criterion) {
    let plain_ev = event(USER_EVENT);
    let rich_ev = enriched_company();
    let rich_json = EncodedEvent::new(rich_ev.clone()).json().to_owned();
    let plain = event_value(&plain_ev);
    let rich = event_value(&rich_ev);

    let plain_t = template::compile_text(PLAIN_TEMPLATE, false).expect("valid");
    let rich_t = template::compile_text(ENRICHED_TEMPLATE, true).expect("valid");
    let literal_t = template::compile(
        &json!({"text": "A B2B event happened", "n": [1, 2, 3]}),
        false,
    )
    .expect("valid");
    let by_type = filter::compile(&json!({"type": {"$in": [
        "com.bigcommerce.company.created", "com.bigcommerce.company.statusUpdated"]}}))
    .expect("valid");
    let pending = filter::compile(&json!({
        "type": {"$in": ["com.bigcommerce.company.created", "com.bigcommerce.company.statusUpdated"]},
        "storehash": "abc123",
        "data": {"resource": {"companyStatus": {"$in": [0, "0"]}}}
    }))
    .expect("valid");
    let nested = filter::compile(&json!({"$or": [
        {"data": {"company_id": {"$gte": 1000, "$lt": 2000}}},
        {"$and": [{"subject": {"$startsWith": "companies/"}}, {"$not": {"bctest": true}}]}
    ]}))
    .expect("valid");

    c.bench_function("shape/event_value/plain", |b| {
        b.iter(|| event_value(black_box(&plain_ev)))
    });
    c.bench_function("shape/event_value/enriched", |b| {
        b.iter(|| event_value(black_box(&rich_ev)))
    });
    c.bench_function("shape/parse_event_json/enriched", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(&rich_json)))
    });
    c.bench_function("shape/template/plain_7", |b| {
        b.iter(|| plain_t.render(black_box(&plain)))
    });
    c.bench_function("shape/template/enriched_9", |b| {
        b.iter(|| rich_t.render(black_box(&rich)))
    });
    c.bench_function("shape/template/literal", |b| {
        b.iter(|| literal_t.render(black_box(&plain)))
    });
    c.bench_function("shape/filter/type_in", |b| {
        b.iter(|| by_type.matches(black_box(&rich)))
    });
    c.bench_function("shape/filter/pending_company", |b| {
        b.iter(|| pending.matches(black_box(&rich)))
    });
    c.bench_function("shape/filter/pending_company_may_match", |b| {
        b.iter(|| pending.may_match(black_box(&plain)))
    });
    c.bench_function("shape/filter/or_and_not", |b| {
        b.iter(|| nested.matches(black_box(&rich)))
    });
    for p in Preset::ALL {
        c.bench_function(&format!("shape/preset/{}", p.name()), |b| {
            b.iter(|| presets::render(p, black_box(&rich), Some("https://relay.example.com")))
        });
    }
    let mut needs = rich_t.needs();
    needs.merge(&pending.needs());
    let plain_needs = plain_t.needs();
    c.bench_function("shape/pick/plain_for_template", |b| {
        b.iter(|| plain_needs.pick(black_box(&plain_ev)))
    });
    c.bench_function("shape/pick/enriched_for_template_and_filter", |b| {
        b.iter(|| needs.pick(black_box(&rich_ev)))
    });
    c.bench_function("shape/pick_json/enriched_for_template_and_filter", |b| {
        b.iter(|| needs.pick_json(black_box(&rich_json)))
    });
    // One enriched delivery: the event as a Value, the filter, the body.
    c.bench_function("shape/delivery/event_value_filter_template", |b| {
        b.iter(|| {
            let v = event_value(black_box(&rich_ev));
            pending.matches(&v).then(|| rich_t.render(&v))
        })
    });
    c.bench_function("shape/delivery/pick_filter_template", |b| {
        b.iter(|| {
            let v = needs.pick(black_box(&rich_ev));
            pending.matches(&v).then(|| rich_t.render(&v))
        })
    });
    c.bench_function("shape/delivery/plain_pick_template", |b| {
        b.iter(|| plain_t.render(&plain_needs.pick(black_box(&plain_ev))))
    });
    c.bench_function("shape/compile/template", |b| {
        b.iter(|| template::compile_text(black_box(ENRICHED_TEMPLATE), true))
    });

    println!("fastest of 300 batches, µs per call:");
    for (name, us) in [
        ("event_value (plain)", fastest(|| event_value(&plain_ev))),
        ("event_value (enriched)", fastest(|| event_value(&rich_ev))),
        (
            "parse event JSON (enriched)",
            fastest(|| serde_json::from_str::<Value>(&rich_json)),
        ),
        (
            "pick (plain, template)",
            fastest(|| plain_needs.pick(&plain_ev)),
        ),
        ("pick (enriched, t + f)", fastest(|| needs.pick(&rich_ev))),
        (
            "template render (7, plain)",
            fastest(|| plain_t.render(&plain)),
        ),
        (
            "template render (9, enriched)",
            fastest(|| rich_t.render(&rich)),
        ),
        (
            "template render (literal)",
            fastest(|| literal_t.render(&plain)),
        ),
        ("filter type $in", fastest(|| by_type.matches(&rich))),
        ("filter pending company", fastest(|| pending.matches(&rich))),
        (
            "filter pending, may_match",
            fastest(|| pending.may_match(&plain)),
        ),
        ("filter $or/$and/$not", fastest(|| nested.matches(&rich))),
        (
            "delivery: pick + filter + render",
            fastest(|| {
                let v = needs.pick(&rich_ev);
                pending.matches(&v).then(|| rich_t.render(&v))
            }),
        ),
        (
            "delivery: event_value + filter + render",
            fastest(|| {
                let v = event_value(&rich_ev);
                pending.matches(&v).then(|| rich_t.render(&v))
            }),
        ),
        (
            "delivery plain: pick + render",
            fastest(|| plain_t.render(&plain_needs.pick(&plain_ev))),
        ),
        (
            "preset slack",
            fastest(|| presets::render(Preset::Slack, &rich, Some("https://relay.example.com"))),
        ),
        (
            "preset teams",
            fastest(|| presets::render(Preset::Teams, &rich, Some("https://relay.example.com"))),
        ),
        (
            "preset discord",
            fastest(|| presets::render(Preset::Discord, &rich, Some("https://relay.example.com"))),
        ),
        (
            "preset google-chat",
            fastest(|| {
                presets::render(Preset::GoogleChat, &rich, Some("https://relay.example.com"))
            }),
        ),
        (
            "compile template (9)",
            fastest(|| template::compile_text(ENRICHED_TEMPLATE, true)),
        ),
    ] {
        println!("  {name:<40} {us:>8.3}");
    }

    println!("allocations per call:");
    for (name, n) in [
        (
            "event_value (plain)",
            allocations(|| event_value(&plain_ev)),
        ),
        (
            "event_value (enriched)",
            allocations(|| event_value(&rich_ev)),
        ),
        (
            "pick (enriched, t + f)",
            allocations(|| needs.pick(&rich_ev)),
        ),
        (
            "pick (plain, template)",
            allocations(|| plain_needs.pick(&plain_ev)),
        ),
        (
            "template render (7)",
            allocations(|| plain_t.render(&plain)),
        ),
        ("template render (9)", allocations(|| rich_t.render(&rich))),
        (
            "filter (pending company)",
            allocations(|| pending.matches(&rich)),
        ),
        (
            "preset slack",
            allocations(|| presets::render(Preset::Slack, &rich, None)),
        ),
    ] {
        println!("  {name:<26} {n:>6.1}");
    }
}

criterion_group! {
    name = shape;
    // Short runs, as in hot_path: the machine is shared.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}

criterion_main!(shape);
