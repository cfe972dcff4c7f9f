//! The HTTP request a target receives for an event: body in the target's format, Standard
//! Webhooks headers and signature, the operator's extra headers. Pure, so every byte a
//! receiver sees is testable without a runtime.

use crate::core::config::{Format, Target};
use crate::core::deliver::presets::{self, Preset};
use crate::core::deliver::template::DEFAULT_CONTENT_TYPE;
use crate::core::event::{CloudEvent, EncodedEvent};
use crate::core::route::path;
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

pub const USER_AGENT: &str = concat!("b2b-relay/", env!("CARGO_PKG_VERSION"));

/// A header name and value; fixed ones are borrowed, so rendering does not copy them.
pub type Header = (Cow<'static, str>, Cow<'static, str>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub url: String,
    pub headers: Vec<Header>,
    pub body: String,
}

/// The callback as BigCommerce would have sent it, for `bigcommerce`-format targets when the
/// original body is not at hand (e.g. operator-made test events, or a body too large to ride in
/// the queue message). `data` is written out byte for byte, like every other format does.
/// Fields the event lacks (BigCommerce did not send them) are left out; `created_at` is always
/// written from `time`, which is the receipt time when BigCommerce sent none.
#[derive(Serialize)]
struct Rebuilt<'a> {
    scope: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    store_id: &'a str,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "str::is_empty")]
    hash: &'a str,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    producer: Option<String>,
}

fn reconstructed_callback(ev: &CloudEvent) -> String {
    serde_json::to_string(&Rebuilt {
        scope: &ev.bcscope,
        store_id: &ev.storeid,
        data: &ev.data,
        hash: &ev.bchash,
        created_at: crate::core::time::parse_rfc3339(&ev.time).unwrap_or(0),
        producer: (!ev.storehash.is_empty()).then(|| format!("stores/{}", ev.storehash)),
    })
    .unwrap_or_default()
}

pub fn render(target: &Target, ev: &EncodedEvent, original: Option<&str>, now: i64) -> Outbound {
    let mut headers: Vec<Header> = Vec::with_capacity(8 + target.headers.len());
    // An operational event has no BigCommerce body to forward: it goes out structured.
    let format = match target.format {
        Format::Bigcommerce if ev.is_operational() => Format::Cloudevents,
        f => f,
    };
    let body = match format {
        Format::Cloudevents => {
            headers.push(("content-type".into(), "application/cloudevents+json".into()));
            ev.json().to_owned()
        }
        Format::CloudeventsBinary => {
            headers.push(("content-type".into(), ev.datacontenttype.clone().into()));
            let mut ce = |k: &str, v: &str| {
                headers.push((format!("ce-{k}").into(), v.to_owned().into()));
            };
            ce("specversion", &ev.specversion);
            ce("id", &ev.id);
            ce("source", &ev.source);
            ce("type", &ev.ty);
            if let Some(s) = &ev.subject {
                ce("subject", s);
            }
            ce("time", &ev.time);
            // Unknown (empty) extensions are absent, as in the structured form.
            for (k, v) in [
                ("storehash", &ev.storehash),
                ("storeid", &ev.storeid),
                ("bcscope", &ev.bcscope),
                ("bchash", &ev.bchash),
            ] {
                if !v.is_empty() {
                    ce(k, v);
                }
            }
            if ev.bctest == Some(true) {
                ce("bctest", "true");
            }
            ev.data.get().to_owned()
        }
        Format::Bigcommerce => {
            headers.push(("content-type".into(), "application/json".into()));
            original.map_or_else(|| reconstructed_callback(ev), str::to_owned)
        }
        Format::Template => {
            let ct = target
                .shape
                .content_type
                .as_deref()
                .unwrap_or(DEFAULT_CONTENT_TYPE);
            headers.push(("content-type".into(), ct.to_owned().into()));
            match &target.shape.template {
                Some(t) => t.render(&target.shape.needs.pick(ev)),
                // Config refuses a template target without a template.
                None => ev.json().to_owned(),
            }
        }
        Format::Slack | Format::Teams | Format::Discord | Format::GoogleChat => {
            let preset = target.format.preset().unwrap_or(Preset::Slack);
            headers.push(("content-type".into(), preset.content_type().into()));
            presets::render(
                preset,
                &path::event_value(ev),
                target.shape.public_url.as_deref(),
            )
        }
    };
    let timestamp = itoa::Buffer::new().format(now).to_owned();
    let signature = (target.signing.as_ref()).map(|k| k.sign(&ev.id, &timestamp, body.as_bytes()));
    headers.push(("user-agent".into(), USER_AGENT.into()));
    headers.push(("webhook-id".into(), ev.id.clone().into()));
    headers.push(("webhook-timestamp".into(), timestamp.into()));
    if let Some(signature) = signature {
        headers.push(("webhook-signature".into(), signature.into()));
    }
    // The one place a secret header value leaves its `Secret`: into the request that sends it.
    headers.extend(
        target
            .headers
            .iter()
            .map(|(k, v)| (k.clone().into(), v.expose().to_owned().into())),
    );
    Outbound {
        url: target.url.clone(),
        headers,
        body,
    }
}
