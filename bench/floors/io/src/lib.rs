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

const EVENT_SQL: &str = "INSERT INTO events (id, type, store, subject, time, received_at, targets, json) \
     VALUES (?1, 'com.bigcommerce.company.user.created', 'abc123', 'companies/123456/users/321', ?2, ?2, ?3, ?4)";
const PENDING_SQL: &str = "INSERT INTO deliveries (event_id, target, state, run, received_at, updated_at) \
     SELECT ?1, value, 'pending', ?2, ?2, ?2 FROM json_each(?3)";
const ATTEMPTS_SQL: &str = "INSERT INTO attempts (event_id, target, run, attempt, outcome, status, duration_ms, at) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), 1, 'delivered', 200, 3, ?1 \
     FROM json_each(?2)";
const DELIVERED_SQL: &str = "UPDATE deliveries SET state = 'delivered', attempts = 1, updated_at = ?1, delivered_at = ?1 \
     WHERE (event_id, target) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2))";

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
    let id = format!("{}-{seq}", Date::now().as_millis());
    let key = JsValue::from_str(&format!("dedup:{id}"));
    let get_options = Object::new();
    Reflect::set(&get_options, &"type".into(), &"text".into())?;
    let _seen = call(&env, "DEDUP", "get", &[&key, &get_options]).await?;
    let targets = urls(&env);
    if !targets.is_empty() {
        let size = |name| text_var(&env, name).parse::<usize>().unwrap_or(0);
        let text = String::from_utf8_lossy(&body);
        let messages = Array::new();
        for i in 0..targets.len() {
            let mut m = format!("{i}|{id}|{text:<width$}|", width = size("BODY_BYTES"));
            let filler = size("MESSAGE_BYTES").saturating_sub(m.len());
            m.extend(std::iter::repeat_n(' ', filler));
            let message = Object::new();
            Reflect::set(&message, &"body".into(), &m.into())?;
            messages.push(&message);
        }
        call(&env, "DELIVERIES", "sendBatch", &[&messages]).await?;
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
    if let Some(s) = statement(&env, EVENT_SQL, &[id_js.clone(), now.clone(), names.as_str().into(), json.into()])? {
        statements.push(s);
        if !targets.is_empty() {
            if let Some(s) = statement(&env, PENDING_SQL, &[id_js, now, names.into()])? {
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
            let run = id.split_once('-').map_or("0", |(at, _)| at);
            rows.borrow_mut()
                .push(format!("[\"{id}\",\"t{index}\",{run}]"));
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
    // One D1 batch per consumer batch, at its end, as the relay's.
    let rows = format!("[{}]", rows.into_inner().join(","));
    let now = JsValue::from_f64(Date::now().as_millis() as f64);
    let mut statements = Vec::new();
    for sql in [ATTEMPTS_SQL, DELIVERED_SQL] {
        if let Some(s) = statement(&env, sql, &[now.clone(), rows.as_str().into()])? {
            statements.push(s);
        }
    }
    d1_batch(&env, statements).await;
    Ok(())
}
