//! Copies in flight together: BigCommerce (or a retry racing its original) can deliver the same
//! callback twice within milliseconds, and both copies would pass the dedup look-up before
//! either has written its mark. Within one isolate the first copy of an event id becomes the
//! *leader* and does the work; every later copy *follows*: it waits for the leader's outcome
//! and answers from it (an accepted event makes the copy a duplicate; an error is the copy's
//! error too, so BigCommerce retries it). A leader that goes away without an outcome (its
//! request was cancelled) leaves its followers free to try again.
//!
//! Single-threaded by design (wasm isolates and Durable Objects run one task at a time):
//! `Rc`/`RefCell`, no locks. [`Signal`] is the one-shot value followers await; the Durable
//! Object's claim waiters use it too.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    wakers: Vec<Waker>,
}

/// A value set once and awaited by any number of tasks. Cloning shares it.
pub struct Signal<T>(Rc<RefCell<Slot<T>>>);

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal(Rc::clone(&self.0))
    }
}

impl<T: Clone> Default for Signal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone> Signal<T> {
    pub fn new() -> Self {
        Signal(Rc::new(RefCell::new(Slot {
            value: None,
            wakers: Vec::new(),
        })))
    }

    /// Sets the value (the first call wins) and wakes every waiter.
    pub fn set(&self, value: T) {
        let wakers = {
            let mut slot = self.0.borrow_mut();
            if slot.value.is_some() {
                return;
            }
            slot.value = Some(value);
            std::mem::take(&mut slot.wakers)
        };
        // Woken outside the borrow: a waker may poll a waiter at once.
        for w in wakers {
            w.wake();
        }
    }

    pub fn get(&self) -> Option<T> {
        self.0.borrow().value.clone()
    }

    /// Resolves with the value once it is set.
    pub fn wait(&self) -> Wait<T> {
        Wait(self.clone())
    }
}

/// The future of [`Signal::wait`].
pub struct Wait<T>(Signal<T>);

impl<T: Clone> Future for Wait<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = (self.0).0.borrow_mut();
        match &slot.value {
            Some(v) => Poll::Ready(v.clone()),
            None => {
                if !slot.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    slot.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// What a leader's followers receive: its outcome, or `None` when it went away without one.
type Outcome<T> = Signal<Option<T>>;

/// Copies in flight, by key (an event id). Cloning shares the table. A list, not a map: it holds
/// the few ids in flight at one moment, and a map's code costs wasm size.
pub struct Coalescer<T>(Rc<RefCell<Table<T>>>);

type Table<T> = Vec<(String, Outcome<T>)>;

impl<T> Clone for Coalescer<T> {
    fn clone(&self) -> Self {
        Coalescer(Rc::clone(&self.0))
    }
}

impl<T: Clone> Default for Coalescer<T> {
    fn default() -> Self {
        Coalescer(Rc::new(RefCell::new(Vec::new())))
    }
}

pub enum Entry<T: Clone> {
    /// No copy of this key is in flight: do the work, then [`Leader::finish`].
    Leader(Leader<T>),
    /// Another copy is: await its outcome (`None`: it was abandoned; enter again).
    Follower(Wait<Option<T>>),
}

impl<T: Clone> Coalescer<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn enter(&self, key: &str) -> Entry<T> {
        let mut table = self.0.borrow_mut();
        if let Some((_, outcome)) = table.iter().find(|(k, _)| k == key) {
            return Entry::Follower(outcome.wait());
        }
        let outcome = Signal::new();
        table.push((key.to_owned(), outcome.clone()));
        Entry::Leader(Leader {
            table: self.clone(),
            key: key.to_owned(),
            outcome,
        })
    }

    /// Keys in flight (tests, and a bound on what the table can hold).
    pub fn in_flight(&self) -> usize {
        self.0.borrow().len()
    }

    /// Runs `work` once per key in flight: the leader runs it, followers answer
    /// `follow(leader's outcome)`; a follower of an abandoned leader enters again.
    pub async fn run<F, Fut>(&self, key: &str, work: F, follow: impl Fn(T) -> T) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        loop {
            match self.enter(key) {
                Entry::Leader(leader) => {
                    let outcome = work().await;
                    leader.finish(outcome.clone());
                    return outcome;
                }
                Entry::Follower(wait) => {
                    if let Some(outcome) = wait.await {
                        return follow(outcome);
                    }
                }
            }
        }
    }
}

/// The copy that does the work. Dropped without [`finish`](Leader::finish) (a cancelled
/// request), it releases its followers with `None`.
pub struct Leader<T: Clone> {
    table: Coalescer<T>,
    key: String,
    outcome: Outcome<T>,
}

impl<T: Clone> Leader<T> {
    pub fn finish(self, outcome: T) {
        self.outcome.set(Some(outcome));
        // Drop removes the key; the `None` it then sets is ignored (first value wins).
    }
}

impl<T: Clone> Drop for Leader<T> {
    fn drop(&mut self) {
        // Out of the table first: a copy arriving after the outcome starts afresh (and finds
        // the dedup mark the leader wrote).
        self.table.0.borrow_mut().retain(|(k, _)| *k != self.key);
        self.outcome.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// Counts wake-ups: proves waiters are woken, not merely polled again.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_signal_wakes_every_waiter_once_and_keeps_the_first_value() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        // Two tasks: the same waker twice would be one task, woken once.
        let (wa, wb) = (
            Waker::from(count.clone()),
            Waker::from(Arc::new(Count(AtomicUsize::new(0)))),
        );
        let waker = wa.clone();
        let s: Signal<u32> = Signal::new();
        let (mut a, mut b) = (s.wait(), s.wait());
        assert!(poll(&mut a, &wa).is_pending());
        assert!(poll(&mut b, &wb).is_pending());
        assert!(
            poll(&mut a, &wa).is_pending(),
            "a second poll registers no second waker"
        );
        s.set(7);
        s.set(8);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "task a woken once");
        assert_eq!(poll(&mut a, &waker), Poll::Ready(7));
        assert_eq!(poll(&mut b, &waker), Poll::Ready(7));
        assert_eq!(
            poll(&mut s.wait(), &waker),
            Poll::Ready(7),
            "late waiters see it too"
        );
        assert_eq!(s.get(), Some(7));
    }

    #[test]
    fn followers_get_the_leaders_outcome_and_the_key_is_freed() {
        let waker = Waker::noop();
        let c: Coalescer<Result<&str, &str>> = Coalescer::new();
        let Entry::Leader(leader) = c.enter("e1") else {
            panic!("the first copy leads")
        };
        let Entry::Follower(mut f1) = c.enter("e1") else {
            panic!("a second copy follows")
        };
        let Entry::Follower(mut f2) = c.enter("e1") else {
            panic!("a third copy follows")
        };
        assert!(
            matches!(c.enter("e2"), Entry::Leader(_)),
            "other ids are apart"
        );
        assert!(poll(&mut f1, waker).is_pending());
        leader.finish(Ok("accepted"));
        assert_eq!(poll(&mut f1, waker), Poll::Ready(Some(Ok("accepted"))));
        assert_eq!(poll(&mut f2, waker), Poll::Ready(Some(Ok("accepted"))));
        assert_eq!(c.in_flight(), 0);
        assert!(
            matches!(c.enter("e1"), Entry::Leader(_)),
            "a later copy starts afresh"
        );
    }

    #[test]
    fn an_abandoned_leader_frees_its_followers() {
        let c: Coalescer<u8> = Coalescer::new();
        let Entry::Leader(leader) = c.enter("e") else {
            panic!()
        };
        let Entry::Follower(mut f) = c.enter("e") else {
            panic!()
        };
        drop(leader);
        assert_eq!(poll(&mut f, Waker::noop()), Poll::Ready(None));
        assert_eq!(c.in_flight(), 0);
    }

    /// Three copies through `run`, driven by hand: one does the work, the other two answer from
    /// its outcome, and an error is every copy's error.
    #[test]
    fn run_does_the_work_once_per_key_in_flight() {
        let waker = Waker::noop();
        for result in [Ok("accepted"), Err("queue down")] {
            let c: Coalescer<Result<&'static str, &'static str>> = Coalescer::new();
            let gate: Signal<()> = Signal::new();
            let calls = std::cell::Cell::new(0);
            let work = || {
                calls.set(calls.get() + 1);
                let gate = gate.wait();
                async move {
                    gate.await;
                    result
                }
            };
            fn follow(r: Result<&'static str, &'static str>) -> Result<&'static str, &'static str> {
                r.map(|_| "duplicate")
            }
            let mut copies: Vec<_> = (0..3)
                .map(|_| Box::pin(c.run("id", work, follow)))
                .collect();
            for copy in &mut copies {
                assert!(copy
                    .as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending());
            }
            gate.set(());
            let answers: Vec<_> = copies
                .iter_mut()
                .map(|f| match f.as_mut().poll(&mut Context::from_waker(waker)) {
                    Poll::Ready(v) => v,
                    Poll::Pending => panic!("still waiting"),
                })
                .collect();
            assert_eq!(calls.get(), 1, "the work ran once");
            let want = match result {
                Ok(_) => vec![Ok("accepted"), Ok("duplicate"), Ok("duplicate")],
                Err(e) => vec![Err(e); 3],
            };
            assert_eq!(answers, want);
            assert_eq!(c.in_flight(), 0);
        }
    }
}
