//! I/O floor: the unavoidable work of the relay's ingest and delivery, and nothing else.
//!
//! Ingest: read the body, one KV read of a fresh dedup key (a miss, as for a new event), one
//! `sendBatch` of one message per target (skipped without targets, as the relay does), one KV
//! write with the relay's TTL, a fixed JSON answer. Consumer: one POST per message to the
//! target's URL, each acked; no parsing, normalizing or signing.
//!
//! The I/O goes through the same JS calls as the relay's (KV `get`/`put`, queue `sendBatch`,
//! `fetch` with a web_sys request), so the floor is the cheapest way to do it, not a slower one.
//!
//! `TARGET_URLS` (comma-separated) are the targets. A message is `{index}|{body}|{filler}`:
//! the least routing information a consumer needs; it POSTs `body`. `BODY_BYTES` and
//! `MESSAGE_BYTES` pad the POST body and the message with spaces to the sizes of the relay's
//! (its CloudEvent and its queue message), since the runtime's cost grows with the bytes moved.
//! `LOG_LINES=1` adds the relay's log lines (one per ingest, one per consumer batch listing its
//! attempts), of the same sizes, to tell its logging apart from its computing.
//!
//! History (with a `HISTORY` D1 binding, as the relay's): the same D1 writes, as plainly as they
//! can be written. After each ingest's answer (`waitUntil`), one batch: the event's row (its
//! JSON the size of the relay's) and a `pending` row per target. After each consumer batch, one
//! batch: an attempt row per message and its delivery row set `delivered`. Same tables and
//! indexes (the relay's migrations), so the same rows and index entries are written.

use std::cell::Cell;
use worker::js_sys::{self, Array, Function, Object, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_log, event, web_sys, Context, Date, Env, MessageBatch, MessageExt, Request, Response,
    Result,
};

// The relay's own statements (src/core/history/sql.rs): the same D1 work, with fixed values.
#[path = "../../../../src/core/history/sql.rs"]
#[allow(dead_code)] // the relay also logs and counts duplicates; the floor does neither
mod sql;

const TTL_SECONDS: f64 = 259_200.0;

thread_local! {
    static SEQ: Cell<u64> = const { Cell::new(0) };
}

fn text_var(env: &Env, name: &str) -> String {
    env.var(name).map(|v| v.to_string()).unwrap_or_default()
}

fn urls(env: &Env) -> Vec<String> {
    text_var(env, "TARGET_URLS")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn get(o: &JsValue, key: &str) -> Result<JsValue> {
    Ok(Reflect::get(o, &JsValue::from_str(key))?)
}

/// A D1 statement with its values (`prepare(sql).bind(...)`), when `HISTORY` is bound.
fn statement(env: &Env, sql: &str, binds: &[JsValue]) -> Result<Option<JsValue>> {
    let db = get(env.as_ref(), "HISTORY")?;
    if db.is_undefined() {
        return Ok(None);
    }
    let prepare: Function = get(&db, "prepare")?.dyn_into()?;
    let stmt = prepare.call1(&db, &JsValue::from_str(sql))?;
    let bind: Function = get(&stmt, "bind")?.dyn_into()?;
    Ok(Some(bind.apply(&stmt, &binds.iter().collect::<Array>())?))
}

/// One D1 `batch`; a failure is ignored, as the relay only logs it.
async fn d1_batch(env: &Env, statements: Vec<JsValue>) {
    if statements.is_empty() {
        return;
    }
    let batch = statements.into_iter().collect::<Array>();
    let _ = call(env, "HISTORY", "batch", &[&batch]).await;
}

/// `binding.method(...args)`, awaited.
async fn call(env: &Env, binding: &str, method: &str, args: &[&JsValue]) -> Result<JsValue> {
    let this = get(env.as_ref(), binding)?;
    let f: Function = get(&this, method)?.dyn_into()?;
    let promise: Promise = f
        .apply(&this, &args.iter().copied().collect::<Array>())?
        .dyn_into()?;
    Ok(JsFuture::from(promise).await?)
}

/// 64 hex digits from four rounds of splitmix64: cheap, and as scattered as a SHA-256.
fn hex_id(seed: u64) -> String {
    let mut x = seed;
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    out
}

async fn send_batch(env: &Env, binding: &str, messages: Array) -> Result<JsValue> {
    call(env, binding, "sendBatch", &[&messages]).await
}

/// The binding of lane `i + 1` (the bench runs three targets).
fn lane_binding(i: usize) -> &'static str {
    [
        "LANE_1", "LANE_2", "LANE_3", "LANE_4", "LANE_5", "LANE_6", "LANE_7",
    ]
    .get(i)
    .copied()
    .unwrap_or("DELIVERIES")
}

fn logging(env: &Env) -> bool {
    text_var(env, "LOG_LINES") == "1"
}

/// A line of the size of the relay's ingest line (id, type, store, targets, duration).
fn ingest_line(env: &Env, seq: u64) {
    if logging(env) {
        console_log!(
            "{{\"msg\":\"ingest\",\"outcome\":\"accepted\",\"status\":200,\"id\":\"{seq:064}\",\"type\":\"com.bigcommerce.company.user.created\",\"store\":\"abc123\",\"targets\":[\"t0\",\"t1\",\"t2\"],\"duration_ms\":3}}"
        );
    }
}

/// A line of the size of the relay's batch line: one entry per attempt.
fn batch_line(env: &Env, attempts: usize) {
    if logging(env) && attempts > 0 {
        let entry = format!(
            "{{\"id\":\"{:064}\",\"target\":\"t0\",\"attempt\":1,\"outcome\":\"delivered\",\"status\":200,\"duration_ms\":3}}",
            0
        );
        let entries = vec![entry; attempts].join(",");
        console_log!(
            "{{\"msg\":\"deliveries\",\"delivered\":{attempts},\"attempts\":[{entries}]}}"
        );
    }
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let body = req.bytes().await?;
    let seq = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    // A key never seen before, like a new event's dedup key; the rest of it is the event id.
    let run = Date::now().as_millis();
    // Shaped like the relay's event ids (64 hex digits, spread like a hash's), so the history
    // tables and their indexes take the same keys: sequential ids would make every insert an
    // append, cheaper than the relay's.
    let id = hex_id(seq ^ (run << 20));
    let key = JsValue::from_str(&format!("dedup:{id}"));
    let get_options = Object::new();
    Reflect::set(&get_options, &"type".into(), &"text".into())?;
    let _seen = call(&env, "DEDUP", "get", &[&key, &get_options]).await?;
    let targets = urls(&env);
    if !targets.is_empty() {
        let size = |name| text_var(&env, name).parse::<usize>().unwrap_or(0);
        let text = String::from_utf8_lossy(&body);
        // LANE_QUEUES=1: one queue per target, as the relay's lanes (`LANE_1`…), each its own
        // `sendBatch`, in parallel; otherwise one `sendBatch` to DELIVERIES.
        let lanes = text_var(&env, "LANE_QUEUES") == "1";
        let mut sends = Vec::new();
        let messages = Array::new();
        for i in 0..targets.len() {
            let mut m = format!("{i}|{run}-{id}|{text:<width$}|", width = size("BODY_BYTES"));
            let filler = size("MESSAGE_BYTES").saturating_sub(m.len());
            m.extend(std::iter::repeat_n(' ', filler));
            let message = Object::new();
            Reflect::set(&message, &"body".into(), &m.into())?;
            if lanes {
                sends.push(send_batch(&env, lane_binding(i), Array::of1(&message)));
            } else {
                messages.push(&message);
            }
        }
        if lanes {
            for r in futures_util::future::join_all(sends).await {
                r?;
            }
        } else {
            call(&env, "DELIVERIES", "sendBatch", &[&messages]).await?;
        }
    }
    let put_options = Object::new();
    Reflect::set(
        &put_options,
        &"expirationTtl".into(),
        &JsValue::from_f64(TTL_SECONDS),
    )?;
    call(&env, "DEDUP", "put", &[&key, &"1".into(), &put_options]).await?;
    ingest_line(&env, seq);
    // After the answer, as the relay writes its history.
    let now = JsValue::from_f64(Date::now().as_millis() as f64);
    let names = format!(
        "[{}]",
        (0..targets.len())
            .map(|i| format!("\"t{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let json = format!(
        "{:<width$}",
        String::from_utf8_lossy(&body),
        width = text_var(&env, "BODY_BYTES").parse::<usize>().unwrap_or(0)
    );
    let id_js = JsValue::from_str(&id);
    let mut statements = Vec::new();
    let event = [
        id_js,
        "com.bigcommerce.company.user.created".into(),
        "abc123".into(),
        "companies/123456/users/321".into(),
        now.clone(),
        now,
        names.as_str().into(),
        json.into(),
        JsValue::from_f64(0.0),
    ];
    if let Some(s) = statement(&env, sql::INSERT_EVENT, &event)? {
        statements.push(s);
        if !targets.is_empty() {
            let rows = (0..targets.len())
                .map(|i| format!("[\"{id}\",\"t{i}\",\"pending\",{run},0,null,null,null,{run}]"))
                .collect::<Vec<_>>()
                .join(",");
            if let Some(s) = statement(&env, sql::UPSERT_DELIVERIES, &[format!("[{rows}]").into()])?
            {
                statements.push(s);
            }
        }
    }
    let later = env.clone();
    ctx.wait_until(async move { d1_batch(&later, statements).await });
    let mut resp = Response::ok(r#"{"status":"accepted"}"#)?;
    resp.headers_mut().set("content-type", "application/json")?;
    Ok(resp)
}

/// One POST of `body` to `url` (the relay's way: a web_sys request, redirects not followed).
async fn post(url: &str, body: &str) -> Result<()> {
    let headers = web_sys::Headers::new()?;
    headers.set("content-type", "application/json")?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_body(&JsValue::from_str(body));
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    JsFuture::from(global.fetch_with_request(&request)).await?;
    Ok(())
}

#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let targets = urls(&env);
    let messages: Vec<_> = batch.raw_iter().collect();
    let count = messages.len();
    let rows = std::cell::RefCell::new(Vec::with_capacity(count));
    let posts = messages.into_iter().map(|m| {
        let targets = &targets;
        let rows = &rows;
        async move {
            let text = m.body().as_string().unwrap_or_default();
            let (index, rest) = text.split_once('|').unwrap_or(("0", ""));
            let (id, rest) = rest.split_once('|').unwrap_or(("", rest));
            let body = rest.rsplit_once('|').map_or(rest, |(b, _)| b);
            let (run, id) = id.split_once('-').unwrap_or(("0", id));
            rows.borrow_mut()
                .push((id.to_owned(), index.to_owned(), run.to_owned()));
            let url = index
                .parse::<usize>()
                .ok()
                .and_then(|i| targets.get(i))
                .cloned()
                .unwrap_or_default();
            let _ = post(&url, body).await;
            m.ack();
        }
    });
    // A batch holds at most six messages (max_batch_size), the runtime's open-connection limit.
    futures_util::future::join_all(posts).await;
    batch_line(&env, count);
    // One D1 batch per consumer batch, at its end, as the relay's: its attempt rows and the
    // delivered state each leaves.
    let now = Date::now().as_millis();
    let rows = rows.into_inner();
    let attempts = rows
        .iter()
        .map(|(id, i, run)| {
            format!("[\"{id}\",\"t{i}\",{run},1,\"delivered\",200,null,3,{now},null]")
        })
        .collect::<Vec<_>>()
        .join(",");
    let states = rows
        .iter()
        .map(|(id, i, run)| {
            format!("[\"{id}\",\"t{i}\",\"delivered\",{run},1,200,null,null,{now}]")
        })
        .collect::<Vec<_>>()
        .join(",");
    let mut statements = Vec::new();
    for (sql, rows) in [
        (sql::INSERT_ATTEMPTS, attempts),
        (sql::UPSERT_DELIVERIES, states),
    ] {
        if let Some(s) = statement(&env, sql, &[format!("[{rows}]").into()])? {
            statements.push(s);
        }
    }
    d1_batch(&env, statements).await;
    Ok(())
}
