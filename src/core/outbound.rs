//! The HTTP request a target receives for an event: body in the target's format, Standard
//! Webhooks headers and signature, the operator's extra headers. Pure, so every byte a
//! receiver sees is testable without a runtime.

use crate::core::config::{Format, Target};
use crate::core::event::CloudEvent;
use serde::Serialize;

pub const USER_AGENT: &str = concat!("b2b-relay/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The callback as BigCommerce would have sent it, for `bigcommerce`-format targets when the
/// original body is not at hand (e.g. operator-made test events). Keys sorted and `data`
/// re-encoded, as serde_json's `json!` wrote it (a struct here keeps its value serializer out
/// of the wasm).
fn reconstructed_callback(ev: &CloudEvent) -> String {
    #[derive(Serialize)]
    struct Callback<'a> {
        created_at: i64,
        data: serde_json::Value,
        hash: &'a str,
        producer: String,
        scope: &'a str,
        store_id: &'a str,
    }
    serde_json::to_string(&Callback {
        created_at: crate::core::time::parse_rfc3339(&ev.time).unwrap_or(0),
        data: serde_json::from_str(ev.data.get()).unwrap_or_default(),
        hash: &ev.bchash,
        producer: format!("stores/{}", ev.storehash),
        scope: &ev.bcscope,
        store_id: &ev.storeid,
    })
    .unwrap_or_default()
}

pub fn render(target: &Target, ev: &CloudEvent, original: Option<&str>, now: i64) -> Outbound {
    let mut headers: Vec<(String, String)> = Vec::with_capacity(16);
    let body = match target.format {
        Format::Cloudevents => {
            headers.push(("content-type".into(), "application/cloudevents+json".into()));
            serde_json::to_string(ev).unwrap_or_default()
        }
        Format::CloudeventsBinary => {
            headers.push(("content-type".into(), ev.datacontenttype.clone()));
            let mut ce = |k: &str, v: &str| headers.push((format!("ce-{k}"), v.to_owned()));
            ce("specversion", &ev.specversion);
            ce("id", &ev.id);
            ce("source", &ev.source);
            ce("type", &ev.ty);
            if let Some(s) = &ev.subject {
                ce("subject", s);
            }
            ce("time", &ev.time);
            ce("storehash", &ev.storehash);
            ce("storeid", &ev.storeid);
            ce("bcscope", &ev.bcscope);
            ce("bchash", &ev.bchash);
            if ev.bctest == Some(true) {
                ce("bctest", "true");
            }
            ev.data.get().to_owned()
        }
        Format::Bigcommerce => {
            headers.push(("content-type".into(), "application/json".into()));
            original.map_or_else(|| reconstructed_callback(ev), str::to_owned)
        }
    };
    headers.push(("user-agent".into(), USER_AGENT.into()));
    headers.push(("webhook-id".into(), ev.id.clone()));
    headers.push(("webhook-timestamp".into(), now.to_string()));
    if let Some(key) = &target.signing {
        headers.push((
            "webhook-signature".into(),
            key.sign(&ev.id, now, body.as_bytes()),
        ));
    }
    headers.extend(target.headers.iter().cloned());
    Outbound {
        url: target.url.clone(),
        headers,
        body,
    }
}
