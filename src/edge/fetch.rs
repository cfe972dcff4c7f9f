//! Outbound HTTP with a timeout (AbortController raced against a timer): the one way the
//! relay calls anything, targets and the B2B API alike.

use crate::core::deliver::outbound::Header;
use futures_util::future::{select, Either};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, AbortController, AbortSignal, Delay, Headers, Method, Response};

pub enum Answer {
    Response(Response),
    Timeout,
    Network(String),
}

pub async fn call(
    method: Method,
    url: &str,
    headers: &[Header],
    body: Option<&str>,
    timeout_ms: u32,
) -> Answer {
    let h = Headers::new();
    for (k, v) in headers {
        if h.set(k, v).is_err() {
            return Answer::Network(format!("header `{k}` was refused by the runtime"));
        }
    }
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = std::pin::pin!(send(method, url, &h, body, &signal));
    let timer = std::pin::pin!(Delay::from(Duration::from_millis(u64::from(timeout_ms))));
    match select(call, timer).await {
        Either::Left((Ok(resp), _)) => Answer::Response(resp),
        Either::Left((Err(e), _)) => Answer::Network(e.to_string()),
        Either::Right(_) => {
            controller.abort();
            Answer::Timeout
        }
    }
}

/// One request through the runtime's `fetch`, built on web_sys directly: worker's
/// `RequestInit` conversion carries the `cf` options (image resizing...), whose code alone was
/// ~11 KB of the wasm (BENCHMARKS.md). Redirects are not followed: a redirect is an answer to
/// fix in the configuration, not to follow blindly.
async fn send(
    method: Method,
    url: &str,
    headers: &Headers,
    body: Option<&str>,
    signal: &AbortSignal,
) -> Result<Response, worker::Error> {
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    init.set_headers(headers.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(b) = body {
        init.set_body(&JsValue::from_str(b));
    }
    init.set_signal(Some(signal));
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| {
        worker::Error::JsError(
            e.as_string()
                .unwrap_or_else(|| "invalid URL or options for Request".into()),
        )
    })?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_request(&request)).await?;
    Ok(Response::from(answer.dyn_into::<web_sys::Response>()?))
}

/// `Retry-After` of a response, in seconds from now.
pub fn retry_after(resp: &Response) -> Option<u32> {
    let v = resp.headers().get("retry-after").ok().flatten()?;
    crate::core::deliver::retry::parse_retry_after(&v, crate::edge::env::now_ms() / 1000)
}
