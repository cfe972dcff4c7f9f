//! The relay's own CloudEvents about its targets: `com.b2brelay.target.opened`, `.recovered`,
//! `.paused`, `.resumed` and `.disabled`, made from a lane's [`Transition`] and delivered like
//! any event, to the targets that ask for them by name (`relay.*`) and never to the target
//! they describe.

use crate::core::config::Target;
use crate::core::deliver::lane::Transition;
use crate::core::deliver::message::{Delivery, Job};
use crate::core::event::{CloudEvent, EncodedEvent};
use crate::core::route::glob_match;
use crate::core::time::rfc3339;
use sha2::{Digest, Sha256};

/// `source` when `PUBLIC_URL` is not set: stable, so receivers can still filter on it.
pub const URN_SOURCE: &str = "urn:b2b-relay";

/// The events' `source`: the relay's origin (`PUBLIC_URL`, without a trailing slash) if set.
pub fn source(public_url: Option<&str>) -> String {
    match public_url.map(|u| u.trim().trim_end_matches('/')) {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => URN_SOURCE.to_owned(),
    }
}

/// Whether `target` asks for the operational event of short type `short` (`relay.target.…`).
/// Only patterns that start with `relay.` match these: `*` means every BigCommerce event, and
/// a CRM with the default `events` must not start receiving the relay's alerts unasked.
pub fn wants(target: &Target, short: &str) -> bool {
    target
        .events
        .iter()
        .any(|g| g.starts_with("relay.") && glob_match(g, short))
}

/// The CloudEvent for `transition` of target `about`. Its id is the SHA-256 of target, kind
/// and time (ms), so a re-sent copy keeps its `webhook-id`.
pub fn event(about: &str, transition: &Transition, source: &str) -> EncodedEvent {
    let kind = transition.kind.as_str();
    let id = hex::encode(Sha256::digest(format!(
        "{about}:{kind}:{}",
        transition.at_ms
    )));
    let data = serde_json::value::to_raw_value(&transition.data(about)).unwrap_or_default();
    EncodedEvent::new(CloudEvent {
        specversion: "1.0".into(),
        id,
        source: source.to_owned(),
        ty: transition.event_type().to_owned(),
        subject: Some(format!("targets/{about}")),
        time: rfc3339(transition.at_ms.div_euclid(1000)),
        datacontenttype: "application/json".into(),
        storehash: String::new(),
        storeid: String::new(),
        bcscope: String::new(),
        bchash: String::new(),
        bctest: None,
        bcwebhookid: None,
        data,
    })
}

/// One plain delivery (never enriched: there is no B2B resource) per target that wants it.
pub fn jobs(
    targets: &[Target],
    about: &str,
    transition: &Transition,
    source: &str,
    now_ms: i64,
) -> Vec<Job> {
    let ev = event(about, transition, source);
    let short = ev.short_type();
    targets
        .iter()
        .filter(|t| t.name != about && wants(t, short))
        .map(|t| Job::Deliver(Delivery::first(&t.name, ev.clone(), None, now_ms)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{self, Format};
    use crate::core::deliver::lane::{Counts, Mode, TransitionKind};
    use crate::core::deliver::outbound;
    use serde_json::{json, Value};

    fn targets() -> Vec<Target> {
        let src = |k: &str| {
            match k {
            "INGEST_TOKENS" => Some("t".to_owned()),
            "TARGETS" => Some(
                r#"[{"name":"crm","url":"https://crm.example"},
                    {"name":"ops","url":"https://ops.example","events":["relay.*"]},
                    {"name":"pager","url":"https://pager.example","events":["company.*","relay.target.disabled"],"format":"bigcommerce"},
                    {"name":"rich","url":"https://rich.example","events":["relay.*"],"enrich":true}]"#
                    .to_owned(),
            ),
            _ => None,
        }
        };
        config::load(&src).unwrap().targets
    }

    fn transition(kind: TransitionKind, mode: Mode) -> Transition {
        Transition {
            kind,
            at_ms: 1_700_000_000_123,
            mode,
            consecutive_failures: 5,
            last_error: Some("timed out".into()),
            opened_until_ms: (mode == Mode::Open).then_some(1_700_000_030_123),
            counts: Counts {
                attempts: 5,
                failed: 5,
                ..Counts::default()
            },
        }
    }

    fn names(jobs: &[Job]) -> Vec<&str> {
        jobs.iter()
            .map(|j| match j {
                Job::Deliver(d) => d.target.as_str(),
                Job::Enrich(_) => "enrich",
            })
            .collect()
    }

    #[test]
    fn go_to_relay_subscribers_only_never_the_target_described() {
        let ts = targets();
        let opened = transition(TransitionKind::Opened, Mode::Open);
        // `*` (crm) does not include relay events; the enriching target gets a plain delivery.
        assert_eq!(
            names(&jobs(&ts, "crm", &opened, URN_SOURCE, 9)),
            ["ops", "rich"]
        );
        assert_eq!(names(&jobs(&ts, "ops", &opened, URN_SOURCE, 9)), ["rich"]);
        let disabled = transition(TransitionKind::Disabled, Mode::Disabled);
        assert_eq!(
            names(&jobs(&ts, "crm", &disabled, URN_SOURCE, 9)),
            ["ops", "pager", "rich"]
        );
        // The short types are what `relay.*` patterns match.
        for kind in [
            TransitionKind::Opened,
            TransitionKind::Recovered,
            TransitionKind::Paused,
            TransitionKind::Resumed,
            TransitionKind::Disabled,
        ] {
            let ev = event("crm", &transition(kind, Mode::Healthy), URN_SOURCE);
            assert_eq!(ev.short_type(), format!("relay.target.{}", kind.as_str()));
            assert!(ev.is_operational());
        }
    }

    #[test]
    fn the_event_names_target_mode_counts_and_last_error() {
        let t = transition(TransitionKind::Opened, Mode::Open);
        let ev = event("crm", &t, &source(Some("https://relay.example.com/")));
        let v: Value = serde_json::from_str(ev.json()).unwrap();
        let id = hex::encode(Sha256::digest("crm:opened:1700000000123"));
        assert_eq!(
            v,
            json!({
                "specversion": "1.0", "id": id, "source": "https://relay.example.com",
                "type": "com.b2brelay.target.opened", "subject": "targets/crm",
                "time": "2023-11-14T22:13:20Z", "datacontenttype": "application/json",
                "data": {"target": "crm", "mode": "open", "consecutive_failures": 5,
                         "last_error": "timed out", "opened_until": "2023-11-14T22:13:50Z",
                         "counts": {"attempts": 5, "delivered": 0, "failed": 5, "rejected": 0, "held": 0, "dead_lettered": 0}},
            })
        );
        assert_eq!(source(None), URN_SOURCE);
        assert_eq!(source(Some("  ")), URN_SOURCE);
        // It travels through the queue like any event.
        let mut job = Job::Deliver(Delivery::first("ops", ev.clone(), None, 1));
        let text = crate::core::deliver::message::encode(&mut job).unwrap();
        let crate::core::deliver::message::Decoded::Job(Job::Deliver(back)) =
            crate::core::deliver::message::decode(Some(&text))
        else {
            panic!("{text}")
        };
        assert_eq!(back.event.json(), ev.json());
        assert!(back.event.is_operational());
    }

    #[test]
    fn every_format_can_carry_it() {
        let ts = targets();
        let ev = event(
            "crm",
            &transition(TransitionKind::Disabled, Mode::Disabled),
            URN_SOURCE,
        );
        let pager = ts.iter().find(|t| t.name == "pager").unwrap();
        assert_eq!(pager.format, Format::Bigcommerce);
        // No BigCommerce body exists: structured CloudEvents instead.
        let out = outbound::render(pager, &ev, None, 5);
        assert_eq!(out.body, ev.json());
        assert!(out
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/cloudevents+json"));
        let mut binary = pager.clone();
        binary.format = Format::CloudeventsBinary;
        let out = outbound::render(&binary, &ev, None, 5);
        assert!(out
            .headers
            .iter()
            .all(|(k, _)| !k.starts_with("ce-bc") && k != "ce-storehash" && k != "ce-storeid"));
        assert!(out
            .headers
            .iter()
            .any(|(k, v)| k == "ce-type" && v == "com.b2brelay.target.disabled"));
    }
}
