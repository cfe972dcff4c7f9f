//! The order of ingest's storage steps, written once: look up the dedup mark → enqueue every
//! job → write the mark. Against a small storage trait, so each step's failure is a unit test.
//!
//! - The look-up fails: 503, nothing enqueued; BigCommerce retries.
//! - The enqueue fails: 503, no mark written; BigCommerce retries and the retry is not taken
//!   for a duplicate.
//! - The mark fails after the enqueue: the event is safe (queued); answered 200, and the lost
//!   mark only risks a later duplicate, which receivers can drop by `webhook-id`.

use crate::core::deliver::message::Job;
use crate::core::error::{ErrorCode, RelayError};

/// The storage ingest needs. Errors are texts for the log (already free of secrets).
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait IngestStore {
    async fn seen(&self, event_id: &str) -> Result<bool, String>;
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String>;
    async fn mark(&self, event_id: &str, ttl_seconds: u64) -> Result<(), String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug)]
pub struct Accepted {
    pub outcome: Outcome,
    /// The mark that could not be written (logged by the edge; the event is queued).
    pub mark_error: Option<String>,
}

/// Ingest's answer to BigCommerce (and the operator's test events): `{"status","id","targets"}`.
#[derive(Debug, serde::Serialize)]
pub struct IngestAnswer<'a> {
    pub status: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<&'a str>>,
}

/// Runs the steps for one event. `jobs` is only built when the event is new.
pub async fn accept<S: IngestStore>(
    store: &S,
    event_id: &str,
    jobs: impl FnOnce() -> Vec<Job>,
    ttl_seconds: u64,
) -> Result<Accepted, RelayError> {
    let seen = store
        .seen(event_id)
        .await
        .map_err(|e| RelayError::new(ErrorCode::StorageUnavailable, e))?;
    if seen {
        return Ok(Accepted {
            outcome: Outcome::Duplicate,
            mark_error: None,
        });
    }
    let jobs = jobs();
    if !jobs.is_empty() {
        store
            .enqueue(jobs)
            .await
            .map_err(|e| RelayError::new(ErrorCode::QueueUnavailable, e))?;
    }
    let mark_error = store.mark(event_id, ttl_seconds).await.err();
    Ok(Accepted {
        outcome: Outcome::Accepted,
        mark_error,
    })
}

/// A minimal executor for the core's async code in unit tests: the in-memory stores never
/// wait, so one poll finishes.
#[cfg(test)]
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! An in-memory [`IngestStore`] whose every step can be made to fail.
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    #[derive(Default)]
    pub struct Memory {
        pub marks: RefCell<BTreeSet<String>>,
        pub queued: RefCell<Vec<Job>>,
        pub fail_seen: bool,
        pub fail_enqueue: bool,
        pub fail_mark: bool,
    }

    impl IngestStore for Memory {
        async fn seen(&self, id: &str) -> Result<bool, String> {
            if self.fail_seen {
                return Err("KV down".into());
            }
            Ok(self.marks.borrow().contains(id))
        }
        async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String> {
            if self.fail_enqueue {
                return Err("queue down".into());
            }
            self.queued.borrow_mut().extend(jobs);
            Ok(())
        }
        async fn mark(&self, id: &str, _ttl: u64) -> Result<(), String> {
            if self.fail_mark {
                return Err("KV write failed".into());
            }
            self.marks.borrow_mut().insert(id.to_owned());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::Memory;
    use super::*;
    use crate::core::deliver::message::Delivery;
    use crate::core::event;
    use crate::core::ingest::callback;

    fn jobs() -> Vec<Job> {
        let body = br#"{"scope":"store/company/created","store_id":"1","data":{"company_id":1},"hash":"a","created_at":1,"producer":"stores/x"}"#;
        let ev = event::normalize(callback::parse(body).unwrap(), 0).into();
        vec![Job::Deliver(Delivery::first("crm", ev, None, 0))]
    }

    fn run(store: &Memory) -> Result<Accepted, RelayError> {
        block_on(accept(store, "e1", jobs, 60))
    }

    #[test]
    fn a_new_event_is_queued_then_marked_and_a_copy_is_a_duplicate() {
        let store = Memory::default();
        let first = run(&store).unwrap();
        assert_eq!(first.outcome, Outcome::Accepted);
        assert_eq!(store.queued.borrow().len(), 1);
        assert!(store.marks.borrow().contains("e1"));
        let again = run(&store).unwrap();
        assert_eq!(again.outcome, Outcome::Duplicate);
        assert_eq!(
            store.queued.borrow().len(),
            1,
            "a duplicate enqueues nothing"
        );
    }

    #[test]
    fn a_failed_lookup_answers_503_and_queues_nothing() {
        let store = Memory {
            fail_seen: true,
            ..Memory::default()
        };
        let e = run(&store).unwrap_err();
        assert_eq!((e.status(), e.code()), (503, ErrorCode::StorageUnavailable));
        assert!(store.queued.borrow().is_empty());
    }

    #[test]
    fn a_failed_enqueue_answers_503_and_writes_no_mark() {
        let store = Memory {
            fail_enqueue: true,
            ..Memory::default()
        };
        let e = run(&store).unwrap_err();
        assert_eq!((e.status(), e.code()), (503, ErrorCode::QueueUnavailable));
        // BigCommerce's retry must not be taken for a duplicate.
        assert!(store.marks.borrow().is_empty());
    }

    #[test]
    fn a_failed_mark_after_the_enqueue_still_accepts() {
        let store = Memory {
            fail_mark: true,
            ..Memory::default()
        };
        let got = run(&store).unwrap();
        assert_eq!(got.outcome, Outcome::Accepted);
        assert_eq!(got.mark_error.as_deref(), Some("KV write failed"));
        assert_eq!(store.queued.borrow().len(), 1);
    }
}
