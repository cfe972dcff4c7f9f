//! The order of ingest's storage steps, written once: look up the dedup mark → claim the id
//! (`DEDUP_MODE = "durable"` only) → enqueue every job → commit the claim → write the mark. Against a
//! small storage trait, so each step's failure is a unit test.
//!
//! - The look-up or the claim fails: 503, nothing enqueued; BigCommerce retries.
//! - The enqueue fails: 503, the claim is released and no mark written; BigCommerce retries and
//!   the retry is not taken for a duplicate.
//! - The commit or the mark fails after the enqueue: the event is safe (queued); answered 200,
//!   and the lost mark only risks a later duplicate, which receivers can drop by `webhook-id`.

use crate::core::deliver::message::Job;
use crate::core::error::{ErrorCode, RelayError};

/// The storage ingest needs. Errors are texts for the log (already free of secrets). The
/// claim steps default to "nothing to claim" (`DEDUP_MODE = "kv"`).
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait IngestStore {
    async fn seen(&self, event_id: &str) -> Result<bool, String>;
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String>;
    async fn mark(&self, event_id: &str, ttl_seconds: u64) -> Result<(), String>;
    /// `Ok(true)`: the caller holds the id and enqueues; `Ok(false)`: a duplicate.
    async fn claim(&self, _event_id: &str) -> Result<bool, String> {
        Ok(true)
    }
    async fn commit(&self, _event_id: &str, _ttl_seconds: u64) -> Result<(), String> {
        Ok(())
    }
    async fn release(&self, _event_id: &str) -> Result<(), String> {
        Ok(())
    }
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
    /// The mark (or the claim's commit) that could not be written (logged by the edge; the
    /// event is queued).
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
    let duplicate = Ok(Accepted {
        outcome: Outcome::Duplicate,
        mark_error: None,
    });
    if seen {
        return duplicate;
    }
    let claimed = store
        .claim(event_id)
        .await
        .map_err(|e| RelayError::new(ErrorCode::StorageUnavailable, e))?;
    if !claimed {
        return duplicate;
    }
    let jobs = jobs();
    if !jobs.is_empty() {
        if let Err(e) = store.enqueue(jobs).await {
            // Released so BigCommerce's retry is processed at once, not after the lease; if the
            // release is lost too, the lease running out does the same.
            let e = match store.release(event_id).await {
                Ok(()) => e,
                Err(r) => format!("{e} (claim not released: {r})"),
            };
            return Err(RelayError::new(ErrorCode::QueueUnavailable, e));
        }
    }
    let commit_error = store.commit(event_id, ttl_seconds).await.err();
    let mark_error = store.mark(event_id, ttl_seconds).await.err();
    let mark_error = match (commit_error, mark_error) {
        (None, m) => m,
        (Some(c), None) => Some(format!("claim not committed: {c}")),
        (Some(c), Some(m)) => Some(format!("claim not committed: {c}; {m}")),
    };
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
    use crate::core::ingest::{callback, dedup};

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

    /// `DEDUP_MODE = "durable"`: a store whose claims follow `dedup::decide`, as the object does.
    #[derive(Default)]
    struct Claims {
        kv: Memory,
        rows: std::cell::RefCell<std::collections::BTreeMap<String, dedup::Row>>,
        released: std::cell::Cell<u32>,
        fail_claim: bool,
        fail_commit: bool,
    }

    const HOLDER: i64 = 1;

    impl IngestStore for Claims {
        async fn seen(&self, id: &str) -> Result<bool, String> {
            self.kv.seen(id).await
        }
        async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String> {
            self.kv.enqueue(jobs).await
        }
        async fn mark(&self, id: &str, ttl: u64) -> Result<(), String> {
            self.kv.mark(id, ttl).await
        }
        async fn claim(&self, id: &str) -> Result<bool, String> {
            if self.fail_claim {
                return Err("object unreachable".into());
            }
            let row = self.rows.borrow().get(id).copied();
            match dedup::decide(row, 0) {
                dedup::Claim::Take => {
                    self.rows.borrow_mut().insert(
                        id.to_owned(),
                        dedup::Row::Claimed {
                            holder: HOLDER,
                            until_ms: dedup::LEASE_MS,
                        },
                    );
                    Ok(true)
                }
                dedup::Claim::Duplicate => Ok(false),
                dedup::Claim::Wait { .. } => Err("would wait".into()),
            }
        }
        async fn commit(&self, id: &str, _ttl: u64) -> Result<(), String> {
            if self.fail_commit {
                return Err("object unreachable".into());
            }
            self.rows
                .borrow_mut()
                .insert(id.to_owned(), dedup::Row::Committed { until_ms: 60_000 });
            Ok(())
        }
        async fn release(&self, id: &str) -> Result<(), String> {
            let row = self.rows.borrow().get(id).copied();
            if dedup::releases(row, HOLDER) {
                self.rows.borrow_mut().remove(id);
                self.released.set(self.released.get() + 1);
            }
            Ok(())
        }
    }

    #[test]
    fn durable_claims_commit_after_the_enqueue_and_answer_duplicates() {
        let store = Claims::default();
        let first = block_on(accept(&store, "e1", jobs, 60)).unwrap();
        assert_eq!(first.outcome, Outcome::Accepted);
        assert_eq!(
            store.rows.borrow().get("e1"),
            Some(&dedup::Row::Committed { until_ms: 60_000 })
        );
        // KV lost the mark (or has not seen it yet): the object still knows.
        store.kv.marks.borrow_mut().clear();
        let again = block_on(accept(&store, "e1", jobs, 60)).unwrap();
        assert_eq!(again.outcome, Outcome::Duplicate);
        assert_eq!(store.kv.queued.borrow().len(), 1);
    }

    #[test]
    fn a_failed_enqueue_releases_the_claim_so_the_retry_is_processed() {
        let mut store = Claims {
            kv: Memory {
                fail_enqueue: true,
                ..Memory::default()
            },
            ..Claims::default()
        };
        let e = block_on(accept(&store, "e1", jobs, 60)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::QueueUnavailable);
        assert_eq!(store.released.get(), 1);
        assert!(store.rows.borrow().is_empty());
        store.kv.fail_enqueue = false;
        let retry = block_on(accept(&store, "e1", jobs, 60)).unwrap();
        assert_eq!(retry.outcome, Outcome::Accepted);
    }

    #[test]
    fn an_unreachable_object_answers_503_and_a_lost_commit_still_accepts() {
        let store = Claims {
            fail_claim: true,
            ..Claims::default()
        };
        let e = block_on(accept(&store, "e1", jobs, 60)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StorageUnavailable);
        assert!(store.kv.queued.borrow().is_empty());
        let store = Claims {
            fail_commit: true,
            ..Claims::default()
        };
        let got = block_on(accept(&store, "e1", jobs, 60)).unwrap();
        assert_eq!(got.outcome, Outcome::Accepted);
        assert!(got.mark_error.unwrap().starts_with("claim not committed"));
        assert!(
            store.kv.marks.borrow().contains("e1"),
            "the KV mark is still written"
        );
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
