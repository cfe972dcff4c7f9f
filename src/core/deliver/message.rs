//! What travels through the queue (one message per event × target) and what is kept when a
//! delivery gives up (a dead-letter record).

use crate::core::config::{Format, Target};
use crate::core::deliver::enrich::{self, Plan};
use crate::core::event::EncodedEvent;
use crate::core::json::Fields;
use serde::Serialize;

/// Cloudflare Queues refuse messages over 128 KB; stay under it with room for the envelope.
pub const MAX_MESSAGE_BYTES: usize = 120 * 1024;

/// One queue message: deliver `event` to `target`. The attempt number travels in the message
/// because workers-rs 0.8 exposes no attempt counter: a retry is a new message.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub target: String,
    /// 1-based number of the attempt this message will make.
    pub attempt: u32,
    /// Unix milliseconds when the relay accepted the callback.
    pub received_at_ms: i64,
    /// Unix seconds of attempt 1, once it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub event: EncodedEvent,
    /// BigCommerce's body, byte for byte; only carried for `bigcommerce`-format targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// Enrich `event` once (one B2B API call), then fan it out to `targets` as deliveries.
#[derive(Debug, Clone, Serialize)]
pub struct EnrichJob {
    pub targets: Vec<String>,
    /// 1-based number of the API attempt this message will make.
    pub attempt: u32,
    pub received_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub event: EncodedEvent,
}

/// What a queue message asks for. Externally tagged (`{"deliver":{…}}`): serde's internally
/// tagged enums buffer their content, which `RawValue` (the event's `data`) cannot go through.
/// Read back by [`decode`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    Deliver(Delivery),
    Enrich(EnrichJob),
}

impl Delivery {
    /// Reads what [`Serialize`] wrote (field by field: see `json::Fields`).
    pub fn read(json: &str) -> Result<Delivery, String> {
        let f = Fields::parse(json)?;
        Ok(Delivery {
            target: f.string("target")?,
            attempt: f.whole("attempt")?,
            received_at_ms: f.get("received_at_ms")?,
            first_attempt_at: f.opt("first_attempt_at")?,
            last_error: f.opt_string("last_error")?,
            event: event(&f)?,
            original: f.opt("original")?,
        })
    }

    /// Attempt 1 of delivering `event` to `target`.
    pub fn first(
        target: &str,
        event: EncodedEvent,
        original: Option<String>,
        received_at_ms: i64,
    ) -> Self {
        Delivery {
            target: target.to_owned(),
            attempt: 1,
            received_at_ms,
            first_attempt_at: None,
            last_error: None,
            event,
            original,
        }
    }
}

impl EnrichJob {
    pub fn read(json: &str) -> Result<EnrichJob, String> {
        let f = Fields::parse(json)?;
        Ok(EnrichJob {
            targets: f.get("targets")?,
            attempt: f.whole("attempt")?,
            received_at_ms: f.get("received_at_ms")?,
            first_attempt_at: f.opt("first_attempt_at")?,
            last_error: f.opt_string("last_error")?,
            event: event(&f)?,
        })
    }
}

/// The `event` member of a message or record, in `Fields::get`'s words when it is wrong.
fn event(f: &Fields<'_>) -> Result<EncodedEvent, String> {
    EncodedEvent::read(f.need("event")?).map_err(|e| format!("field `event`: {e}"))
}

/// A delivery that will not be retried any more, stored in KV `DEAD_LETTERS`.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub target: String,
    pub event_id: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    pub last_error: String,
    /// RFC 3339.
    pub first_attempt_at: String,
    pub last_attempt_at: String,
    /// The Delivery's `received_at_ms`: its run in history (0 in records written before).
    #[serde(default)]
    pub received_at_ms: i64,
    pub event: EncodedEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

impl DeadLetter {
    pub fn read(json: &str) -> Result<DeadLetter, String> {
        let f = Fields::parse(json)?;
        Ok(DeadLetter {
            target: f.get("target")?,
            event_id: f.get("event_id")?,
            attempts: f.whole("attempts")?,
            last_status: f.opt_whole("last_status")?,
            last_error: f.get("last_error")?,
            first_attempt_at: f.get("first_attempt_at")?,
            last_attempt_at: f.get("last_attempt_at")?,
            received_at_ms: f.or_default("received_at_ms")?,
            event: event(&f)?,
            original: f.opt("original")?,
        })
    }
}

/// The queue messages for one accepted event: a delivery per plain target; for enriching
/// targets either deliveries enriched right away (deleted, unknown scope) or one shared
/// enrichment job, so the B2B API is called once however many targets want the resource.
pub fn plan_jobs(
    event: &EncodedEvent,
    targets: &[&Target],
    original: &str,
    received_at_ms: i64,
) -> Vec<Job> {
    let mut jobs = Vec::with_capacity(targets.len());
    let mut enrich_targets = Vec::new();
    for t in targets {
        if t.enrich {
            enrich_targets.push(t.name.clone());
        } else {
            let original = (t.format == Format::Bigcommerce).then(|| original.to_owned());
            jobs.push(Job::Deliver(Delivery::first(
                &t.name,
                event.clone(),
                original,
                received_at_ms,
            )));
        }
    }
    if !enrich_targets.is_empty() {
        match enrich::plan(event) {
            Plan::Fetch(_) => jobs.push(Job::Enrich(EnrichJob {
                targets: enrich_targets,
                attempt: 1,
                received_at_ms,
                first_attempt_at: None,
                last_error: None,
                event: event.clone(),
            })),
            Plan::Resolved(e) => {
                let enriched = EncodedEvent::new(enrich::apply(event, &e));
                let accepted = |name: &String| {
                    targets
                        .iter()
                        .find(|t| &t.name == name)
                        .is_none_or(|t| t.accepts(&enriched))
                };
                for name in enrich_targets.into_iter().filter(accepted) {
                    jobs.push(Job::Deliver(Delivery::first(
                        &name,
                        enriched.clone(),
                        None,
                        received_at_ms,
                    )));
                }
            }
        }
    }
    jobs
}

/// A delivery made again by the operator (a dead letter's replay, history's replay and
/// recover): attempt 1 of a new run starting `now_ms`, a fresh enrichment for an enriching
/// target. Same event, so the same `webhook-id`.
pub fn replay_job(
    target: &Target,
    event: EncodedEvent,
    original: Option<String>,
    now_ms: i64,
) -> Job {
    if target.enrich {
        Job::Enrich(EnrichJob {
            targets: vec![target.name.clone()],
            attempt: 1,
            received_at_ms: now_ms,
            first_attempt_at: None,
            last_error: None,
            event,
        })
    } else {
        Job::Deliver(Delivery::first(&target.name, event, original, now_ms))
    }
}

/// The message schema version this relay writes. During a gradual deployment two versions
/// of the worker read one queue: each reads its own version and the one before, and holds a
/// newer one for the newer relay instead of dropping it.
pub const VERSION: u32 = 2;

fn versioned(job: &Job) -> Result<String, serde_json::Error> {
    let text = serde_json::to_string(job)?;
    // `{"deliver":…}` → `{"v":2,"deliver":…}`: the job stays externally tagged (its `data` is
    // a RawValue, which serde's buffered enum forms cannot carry).
    Ok(format!(
        "{{\"v\":{VERSION},{}",
        text.get(1..).unwrap_or_default()
    ))
}

/// JSON text for the queue. A delivery that would be too large drops the original body
/// (rebuilt from the event at delivery time) rather than fail the enqueue.
pub fn encode(job: &mut Job) -> Result<String, serde_json::Error> {
    let text = versioned(job)?;
    if let Job::Deliver(d) = job {
        if text.len() > MAX_MESSAGE_BYTES && d.original.take().is_some() {
            return versioned(job);
        }
    }
    Ok(text)
}

/// Lives for one match right after decoding: boxing the job would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decoded {
    Job(Job),
    /// Written by a newer relay: not ours to read, not ours to drop.
    Newer(u32),
    /// Nothing this relay can act on; the reason, for the operator's record.
    Unreadable(String),
}

/// A queue message as read: version 1 had no `v`; version 2 adds it. A newer version is
/// recognised whatever else the message holds.
pub fn decode(body: Option<&str>) -> Decoded {
    let Some(text) = body else {
        return Decoded::Unreadable("the message body is not text".into());
    };
    if let Some(job) = as_written(text) {
        return Decoded::Job(job);
    }
    let unreadable =
        |e: String| Decoded::Unreadable(format!("not a job of message version {VERSION}: {e}"));
    let f = match Fields::parse(text) {
        Ok(f) => f,
        Err(e) => return unreadable(e),
    };
    let v = match f.opt_whole::<u32>("v") {
        Ok(v) => v.unwrap_or(1),
        Err(e) => return unreadable(e),
    };
    if v > VERSION {
        return Decoded::Newer(v);
    }
    let (deliver, enrich) = match (f.present("deliver"), f.present("enrich")) {
        (Ok(d), Ok(e)) => (d, e),
        (Err(e), _) | (_, Err(e)) => return unreadable(e),
    };
    let job = match (deliver, enrich) {
        (Some(d), None) => Delivery::read(d.get()).map(Job::Deliver),
        (None, Some(e)) => EnrichJob::read(e.get()).map(Job::Enrich),
        _ => return Decoded::Unreadable("neither one `deliver` nor one `enrich` job".into()),
    };
    job.map_or_else(unreadable, Decoded::Job)
}

/// A message exactly as [`versioned`] writes it, read without scanning its envelope first (a
/// third of the consumer's JSON scanning): the job is the text between the prefix and the
/// last `}`. The general path reads such a message the same way, so anything this does not
/// read (other spacing, more members, an older or newer version, a broken job) goes there,
/// with its errors.
fn as_written(text: &str) -> Option<Job> {
    let inner = text.strip_suffix('}')?;
    if let Some(d) = inner.strip_prefix(DELIVER_PREFIX) {
        return Delivery::read(d).ok().map(Job::Deliver);
    }
    let e = inner.strip_prefix(ENRICH_PREFIX)?;
    EnrichJob::read(e).ok().map(Job::Enrich)
}

/// How [`versioned`] starts each job (a test ties them to [`VERSION`]).
const DELIVER_PREFIX: &str = "{\"v\":2,\"deliver\":";
const ENRICH_PREFIX: &str = "{\"v\":2,\"enrich\":";

/// A queue message the consumer could not read, kept for the operator (KV `DEAD_LETTERS`,
/// `unreadable:{message id}`; admin API `/admin/unreadable`) instead of being acked away.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    pub message_id: String,
    pub queue: String,
    /// RFC 3339.
    pub received_at: String,
    pub reason: String,
    /// The message body as text, capped at [`MAX_MESSAGE_BYTES`]; absent if it was not text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub size: usize,
}

impl Unreadable {
    pub fn read(json: &str) -> Result<Unreadable, String> {
        let f = Fields::parse(json)?;
        Ok(Unreadable {
            message_id: f.get("message_id")?,
            queue: f.get("queue")?,
            received_at: f.get("received_at")?,
            reason: f.get("reason")?,
            body: f.opt("body")?,
            size: f.whole("size")?,
        })
    }

    pub fn new(
        message_id: &str,
        queue: &str,
        body: Option<&str>,
        reason: String,
        now: i64,
    ) -> Self {
        let capped = body.map(|b| {
            let mut end = b.len().min(MAX_MESSAGE_BYTES);
            while !b.is_char_boundary(end) {
                end -= 1;
            }
            b[..end].to_owned()
        });
        Unreadable {
            message_id: message_id.to_owned(),
            queue: queue.to_owned(),
            received_at: crate::core::time::rfc3339(now),
            reason,
            size: body.map_or(0, str::len),
            body: capped,
        }
    }

    pub fn key(&self) -> String {
        unreadable_key(&self.message_id)
    }
}

pub const UNREADABLE_PREFIX: &str = "unreadable:";

pub fn unreadable_key(message_id: &str) -> String {
    format!("{UNREADABLE_PREFIX}{message_id}")
}

/// Cloudflare Queues accept at most 100 messages and 256 KB per `send_batch`; the margin
/// covers per-message overhead.
pub const MAX_BATCH_MESSAGES: usize = 100;
pub const MAX_BATCH_BYTES: usize = 240 * 1024;

/// Splits encoded messages into batches Queues accepts. One batch is all-or-nothing; with
/// several, a failure after the first means a 503 and a retry from BigCommerce, so some
/// targets may get the event twice (same `webhook-id`), never zero times.
pub fn batches(texts: Vec<String>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for t in texts {
        let fits = out
            .last()
            .is_some_and(|b| b.len() < MAX_BATCH_MESSAGES && size + t.len() <= MAX_BATCH_BYTES);
        if !fits {
            out.push(Vec::new());
            size = 0;
        }
        size += t.len();
        if let Some(b) = out.last_mut() {
            b.push(t);
        }
    }
    out
}

pub fn dead_letter_key(target: &str, event_id: &str) -> String {
    format!("dlq:{target}:{event_id}")
}

impl Delivery {
    pub fn into_dead_letter(
        self,
        last_status: Option<u16>,
        last_error: String,
        now: i64,
    ) -> DeadLetter {
        use crate::core::time::rfc3339;
        DeadLetter {
            event_id: self.event.id.clone(),
            target: self.target,
            attempts: self.attempt,
            last_status,
            last_error,
            first_attempt_at: rfc3339(self.first_attempt_at.unwrap_or(now)),
            last_attempt_at: rfc3339(now),
            received_at_ms: self.received_at_ms,
            event: self.event,
            original: self.original,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ingest::callback;
    use crate::core::{config, event};

    fn targets() -> Vec<Target> {
        let src = |k: &str| {
            match k {
            "INGEST_TOKENS" => Some("t".to_owned()),
            "TARGETS" => Some(r#"[{"name":"plain","url":"https://a"},{"name":"bc","url":"https://b","format":"bigcommerce"},
                {"name":"rich1","url":"https://c","enrich":true},{"name":"rich2","url":"https://d","enrich_required":true}]"#.to_owned()),
            _ => None,
        }
        };
        config::load(&src).unwrap().targets
    }

    fn event_of(scope: &str) -> (EncodedEvent, String) {
        let body = format!(
            r#"{{"scope":"{scope}","store_id":"1","data":{{"company_id":1}},"hash":"aa","created_at":1,"producer":"stores/abc"}}"#
        );
        (
            event::normalize(callback::parse(body.as_bytes()).unwrap(), 0).into(),
            body,
        )
    }

    fn summary(jobs: &[Job]) -> Vec<String> {
        jobs.iter()
            .map(|j| match j {
                Job::Deliver(d) => format!(
                    "deliver {} original={} {}",
                    d.target,
                    d.original.is_some(),
                    d.event.data.get()
                ),
                Job::Enrich(e) => format!("enrich {}", e.targets.join("+")),
            })
            .collect()
    }

    #[test]
    fn one_enrichment_job_however_many_targets_want_it() {
        let ts = targets();
        let refs: Vec<&Target> = ts.iter().collect();
        let (ev, body) = event_of("store/company/updated");
        assert_eq!(
            summary(&plan_jobs(&ev, &refs, &body, 0)),
            [
                r#"deliver plain original=false {"company_id":1}"#,
                r#"deliver bc original=true {"company_id":1}"#,
                "enrich rich1+rich2",
            ]
        );
    }

    #[test]
    fn deleted_events_are_enriched_without_a_call() {
        let ts = targets();
        let refs: Vec<&Target> = ts.iter().skip(2).collect();
        let (ev, body) = event_of("store/company/deleted");
        assert_eq!(
            summary(&plan_jobs(&ev, &refs, &body, 0)),
            [
                r#"deliver rich1 original=false {"company_id":1,"enrichment":"not_found"}"#,
                r#"deliver rich2 original=false {"company_id":1,"enrichment":"not_found"}"#,
            ]
        );
    }

    #[test]
    fn batches_respect_the_queue_limits() {
        let small = |n: usize| vec!["x".repeat(10); n];
        assert!(batches(Vec::new()).is_empty());
        assert_eq!(batches(small(3)).len(), 1);
        let counts: Vec<usize> = batches(small(250)).iter().map(Vec::len).collect();
        assert_eq!(counts, [100, 100, 50]);
        // Five 61 KB messages (a 61 KB callback to five targets) exceed one 256 KB batch.
        let big: Vec<String> = vec!["y".repeat(61 * 1024); 5];
        let split = batches(big);
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
        assert!(split
            .iter()
            .all(|b| b.iter().map(String::len).sum::<usize>() <= MAX_BATCH_BYTES));
        // A single message over the batch budget still goes out alone.
        assert_eq!(batches(vec!["z".repeat(MAX_BATCH_BYTES + 1)]).len(), 1);
    }

    #[test]
    fn oversized_messages_drop_the_original_body() {
        let (ev, _) = event_of("store/company/created");
        let huge = "x".repeat(MAX_MESSAGE_BYTES);
        let mut job = Job::Deliver(Delivery::first("bc", ev, Some(huge), 0));
        let text = encode(&mut job).unwrap();
        assert!(text.len() < MAX_MESSAGE_BYTES);
        assert!(matches!(job, Job::Deliver(Delivery { original: None, .. })));
    }

    /// The envelope's shortcut reads what this version writes, and leaves every other form to
    /// the general reading, which agrees with it.
    #[test]
    fn messages_as_written_skip_the_envelope_scan_and_others_read_the_same() {
        let (ev, _) = event_of("store/company/created");
        let deliver = encode(&mut Job::Deliver(Delivery::first(
            "crm",
            ev.clone(),
            None,
            5,
        )))
        .unwrap();
        let enrich = encode(&mut Job::Enrich(EnrichJob {
            targets: vec!["crm".into()],
            attempt: 1,
            received_at_ms: 5,
            first_attempt_at: None,
            last_error: None,
            event: ev,
        }))
        .unwrap();
        assert!(deliver.starts_with(DELIVER_PREFIX) && enrich.starts_with(ENRICH_PREFIX));
        assert!(DELIVER_PREFIX.contains(&format!("\"v\":{VERSION},")));
        assert!(matches!(as_written(&deliver), Some(Job::Deliver(_))));
        assert!(matches!(as_written(&enrich), Some(Job::Enrich(_))));
        let job = |t: &str| format!("{:?}", read_job(t));
        for (text, other) in [
            (&deliver, deliver.replacen(":2,", ": 2 ,", 1)),
            (&enrich, enrich.replacen("{\"v\":2,", "{", 1)),
        ] {
            assert_eq!(as_written(&other).map(|_| ()), None, "{other}");
            assert_eq!(job(text), job(&other));
        }
        // A second job after the first: the shortcut's slice does not read, the general path
        // refuses it.
        let two = format!("{},\"enrich\":{{}}}}", deliver.strip_suffix('}').unwrap());
        assert_eq!(as_written(&two).map(|_| ()), None);
        assert!(matches!(decode(Some(&two)), Decoded::Unreadable(_)));
        let broken = deliver.replacen("\"attempt\":1", "\"attempt\":\"1\"", 1);
        assert_eq!(as_written(&broken).map(|_| ()), None);
        assert!(matches!(decode(Some(&broken)), Decoded::Unreadable(r) if r.contains("attempt")));
    }

    /// A job as the consumer reads it (a message without `v` is version 1).
    fn read_job(text: &str) -> Job {
        match decode(Some(text)) {
            Decoded::Job(job) => job,
            other => panic!("{other:?}"),
        }
    }

    /// README: a target gets the same bytes on every attempt and replay. Retries re-encode the
    /// delivery read from the queue, replays the dead letter read from KV.
    #[test]
    fn retries_and_replays_carry_the_event_bytes_they_were_given() {
        let (ev, _) = event_of("store/company/created");
        let first = Delivery::first("crm", ev.clone(), None, 5);
        let text = serde_json::to_string(&Job::Deliver(first)).unwrap();
        let Job::Deliver(mut retry) = read_job(&text) else {
            panic!("a delivery reads back as a delivery")
        };
        retry.attempt += 1;
        let again = read_job(&serde_json::to_string(&Job::Deliver(retry.clone())).unwrap());
        let Job::Deliver(again) = again else { panic!() };
        assert_eq!(again.event.json(), ev.json());
        let record = again.into_dead_letter(Some(500), "HTTP 500".into(), 9);
        let stored = serde_json::to_string(&record).unwrap();
        let back = DeadLetter::read(&stored).unwrap();
        assert_eq!(back.event.json(), ev.json());
        // Bytes as read, even in a form this version would not write (an older relay's).
        let older = stored.replacen("\"specversion\":\"1.0\",", "\"specversion\": \"1.0\",", 1);
        let back = DeadLetter::read(&older).unwrap();
        assert!(back.event.json().contains("\"specversion\": \"1.0\""));
    }

    #[test]
    fn jobs_round_trip_through_json_with_data_intact() {
        let body = br#"{"scope":"store/company/created","store_id":"1","data":{"company_id": 1},"hash":"aa","created_at":1,"producer":"stores/abc"}"#;
        let ev: EncodedEvent = event::normalize(callback::parse(body).unwrap(), 0).into();
        for job in [
            Job::Deliver(Delivery::first("crm", ev.clone(), None, 5)),
            Job::Enrich(EnrichJob {
                targets: vec!["crm".into()],
                attempt: 2,
                received_at_ms: 5,
                first_attempt_at: Some(1),
                last_error: Some("HTTP 429".into()),
                event: ev.clone(),
            }),
        ] {
            let text = serde_json::to_string(&job).unwrap();
            let back = read_job(&text);
            let event = match back {
                Job::Deliver(d) => d.event,
                Job::Enrich(e) => e.event,
            };
            assert_eq!(event.data.get(), r#"{"company_id": 1}"#);
            // The embedded event is the one delivered, byte for byte.
            assert_eq!(event.json(), ev.json());
            assert!(text.contains(ev.json()));
        }
    }
}
