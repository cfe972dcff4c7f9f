//! Outbound HTTP with a timeout (`AbortSignal.timeout`): the one way the relay calls anything,
//! targets and BigCommerce's APIs alike. The timeout covers reading the body too; a body
//! nobody reads is cancelled, so it does not hold one of the invocation's six connections
//! while the consumer goes on writing to KV and the queue.

use crate::core::deliver::outbound::Header;
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::AbortSignal;
use worker::{web_sys, Method};

pub struct Reply {
    pub status: u16,
    /// `Retry-After`, in seconds from now.
    pub retry_after: Option<u32>,
    /// Read only when asked for, at most the asked number of bytes (lossy UTF-8).
    pub body: String,
}

pub enum Answer {
    Response(Reply),
    Timeout,
    Network(String),
}

/// What to do with the response body.
#[derive(Clone, Copy)]
pub enum Body {
    /// Cancel it (deliveries: only the status matters).
    Discard,
    /// Read up to this many bytes, then cancel the rest.
    Read(usize),
}

pub async fn call(
    method: Method,
    url: &str,
    headers: &[Header],
    body: Option<&str>,
    timeout_ms: u32,
    read: Body,
) -> Answer {
    let h = match web_sys::Headers::new() {
        Ok(h) => h,
        Err(_) => return Answer::Network("headers could not be built".into()),
    };
    for (k, v) in headers {
        if h.set(k, v).is_err() {
            return Answer::Network(format!("header `{k}` was refused by the runtime"));
        }
    }
    // The runtime's own timer aborts the fetch and any read of its body: one call, where a
    // controller raced against a `setTimeout` took six and two closures per delivery.
    let signal = AbortSignal::timeout_with_u32(timeout_ms);
    match exchange(method, url, &h, body, &signal, read).await {
        Ok(reply) => Answer::Response(reply),
        Err(_) if signal.aborted() => Answer::Timeout,
        Err(e) => Answer::Network(e.to_string()),
    }
}

/// One request through the runtime's `fetch`, built on web_sys directly: worker's
/// `RequestInit` conversion carries the `cf` options (image resizing...), whose code alone was
/// ~11 KB of the wasm (BENCHMARKS.md). Redirects are not followed: a redirect is an answer to
/// fix in the configuration, not to follow blindly.
async fn exchange(
    method: Method,
    url: &str,
    headers: &web_sys::Headers,
    body: Option<&str>,
    signal: &AbortSignal,
    read: Body,
) -> Result<Reply, worker::Error> {
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
    let resp: web_sys::Response = answer.dyn_into()?;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| {
            crate::core::deliver::retry::parse_retry_after(&v, crate::edge::env::now_ms() / 1000)
        });
    let body = match (resp.body(), read) {
        (None, _) => String::new(),
        (Some(stream), Body::Discard) => {
            // A failed cancel only means the runtime frees the connection a little later.
            let _ = JsFuture::from(stream.cancel()).await;
            String::new()
        }
        (Some(stream), Body::Read(cap)) => read_capped(&stream, cap).await?,
    };
    Ok(Reply {
        status: resp.status(),
        retry_after,
        body,
    })
}

async fn read_capped(
    stream: &web_sys::ReadableStream,
    cap: usize,
) -> Result<String, worker::Error> {
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        let chunk: Object = JsFuture::from(reader.read()).await?.unchecked_into();
        if Reflect::get(&chunk, &"done".into())?
            .as_bool()
            .unwrap_or(true)
        {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())?.unchecked_into();
        let room = cap.saturating_sub(bytes.len());
        let take = (value.length() as usize).min(room);
        let start = bytes.len();
        bytes.resize(start + take, 0);
        value
            .subarray(0, u32::try_from(take).unwrap_or(u32::MAX))
            .copy_to(&mut bytes[start..]);
        if bytes.len() >= cap {
            let _ = JsFuture::from(reader.cancel()).await;
            break;
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
