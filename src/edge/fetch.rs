//! Outbound HTTP with a timeout (AbortController raced against a timer): the one way the
//! relay calls anything, targets and the B2B API alike.

use futures_util::future::{select, Either};
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
};

pub enum Answer {
    Response(Response),
    Timeout,
    Network(String),
}

pub async fn call(
    method: Method,
    url: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    timeout_ms: u32,
) -> Answer {
    let h = Headers::new();
    for (k, v) in headers {
        if h.set(k, v).is_err() {
            return Answer::Network(format!("header `{k}` was refused by the runtime"));
        }
    }
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(h)
        // A redirect is an answer to fix in the configuration, not to follow blindly.
        .with_redirect(RequestRedirect::Manual)
        .with_body(body.map(JsValue::from_str));
    let request = match Request::new_with_init(url, &init) {
        Ok(r) => r,
        Err(e) => return Answer::Network(e.to_string()),
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let call = std::pin::pin!(fetch.send_with_signal(&signal));
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

/// `Retry-After` of a response, in seconds from now.
pub fn retry_after(resp: &Response) -> Option<u32> {
    let v = resp.headers().get("retry-after").ok().flatten()?;
    crate::core::retry::parse_retry_after(&v, crate::edge::env::now_ms() / 1000)
}
