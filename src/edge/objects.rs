//! A request to a Durable Object by name, through the JS API directly (worker's stub wrappers
//! convert requests through its `Request` type): namespace → `idFromName` → `get` →
//! `stub.fetch`, raced against a timeout. One routine for the lanes and the dedup shards, so
//! its state machine is in the wasm once.

use futures_util::future::{select, Either};
use js_sys::{Function, Object, Promise, Reflect};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Delay, Env};

fn js(e: JsValue) -> String {
    worker::Error::from(e).to_string()
}

fn method(on: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, String> {
    let f: Function = Reflect::get(on, &JsValue::from_str(name))
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let args: js_sys::Array = args.iter().copied().collect();
    f.apply(on, &args).map_err(js)
}

/// What [`call`] answers when `binding` is not bound.
pub fn unbound(binding: &str) -> String {
    format!("no Durable Object binding `{binding}`")
}

/// A call to object `name` of namespace `binding`: `POST https://{host}/{path}` with `body`
/// (`GET` without one). The answer's text if it is 2xx; `{host} answered {status}: …`, the
/// unbound message, or a timeout otherwise.
pub fn call<'a>(
    env: &'a Env,
    binding: &'a str,
    name: &'a str,
    url: String,
    body: Option<String>,
    timeout_ms: u64,
) -> Pin<Box<dyn Future<Output = Result<String, String>> + 'a>> {
    Box::pin(async move {
        let exchange = std::pin::pin!(exchange(env, binding, name, url, body));
        let timer = std::pin::pin!(Delay::from(Duration::from_millis(timeout_ms)));
        match select(exchange, timer).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Err(format!("no answer within {timeout_ms} ms")),
        }
    })
}

async fn exchange(
    env: &Env,
    binding: &str,
    name: &str,
    url: String,
    body: Option<String>,
) -> Result<String, String> {
    let ns = Reflect::get(env.as_ref(), &JsValue::from_str(binding)).map_err(js)?;
    if ns.is_undefined() {
        return Err(unbound(binding));
    }
    let id = method(&ns, "idFromName", &[&JsValue::from_str(name)])?;
    let stub = method(&ns, "get", &[&id])?;
    let init = Object::new();
    if let Some(body) = body {
        Reflect::set(&init, &"method".into(), &"POST".into()).map_err(js)?;
        Reflect::set(&init, &"body".into(), &body.into()).map_err(js)?;
    }
    let host: String = url
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let promise: Promise = method(&stub, "fetch", &[&url.into(), &init])?
        .dyn_into()
        .map_err(js)?;
    let resp: web_sys::Response = JsFuture::from(promise)
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let text = JsFuture::from(resp.text().map_err(js)?)
        .await
        .map_err(js)?
        .as_string()
        .unwrap_or_default();
    if !resp.ok() {
        let first: String = text.chars().take(300).collect();
        return Err(format!("{host} answered {}: {first}", resp.status()));
    }
    Ok(text)
}
