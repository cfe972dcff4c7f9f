//! Copies in flight together: BigCommerce (or a retry racing its original) can deliver the same
//! callback twice within milliseconds, and both copies would pass the dedup look-up before
//! either has written its mark. Within one isolate the first copy of an event id becomes the
//! *leader* and does the work; every later copy *follows*: it waits for the leader's outcome
//! and answers from it (an accepted event makes the copy a duplicate; an error is the copy's
//! error too, so BigCommerce retries it). A leader that goes away without an outcome (its
//! request was cancelled) leaves its followers free to try again.
//!
//! Followers look at the outcome between short pauses (the edge's timer) instead of being
//! woken by the leader: each copy is its own request, and the Workers runtime cancels a request
//! that waits on nothing it can see (a Rust waker set from another request's context is such a
//! nothing), while a timer keeps it alive and resumes it in its own context.
//!
//! Single-threaded by design (wasm isolates run one task at a time): `Rc`/`RefCell`, no locks.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

/// A value set once and read by any number of copies. Cloning shares it.
pub struct Signal<T>(Rc<RefCell<Option<T>>>);

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
        Signal(Rc::new(RefCell::new(None)))
    }

    /// Sets the value; the first call wins.
    pub fn set(&self, value: T) {
        self.0.borrow_mut().get_or_insert(value);
    }

    pub fn get(&self) -> Option<T> {
        self.0.borrow().clone()
    }
}

/// What a leader's followers read: its outcome, or `None` when it went away without one.
type Outcome<T> = Signal<Option<T>>;

/// Copies in flight, by key (an event id). A list, not a map: it holds the few ids in flight at
/// one moment, and a map's code costs wasm size.
type Table<T> = Vec<(String, Outcome<T>)>;

/// Cloning shares the table.
pub struct Coalescer<T>(Rc<RefCell<Table<T>>>);

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
    /// Another copy is: read its outcome until it is there (`Some(None)`: it was abandoned).
    Follower(Outcome<T>),
}

impl<T: Clone> Coalescer<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn enter(&self, key: &str) -> Entry<T> {
        let mut table = self.0.borrow_mut();
        if let Some((_, outcome)) = table.iter().find(|(k, _)| k == key) {
            return Entry::Follower(outcome.clone());
        }
        let outcome = Signal::new();
        table.push((key.to_owned(), outcome.clone()));
        Entry::Leader(Leader {
            table: self.clone(),
            key: key.to_owned(),
            outcome,
        })
    }

    /// Keys in flight.
    pub fn in_flight(&self) -> usize {
        self.0.borrow().len()
    }

    /// Runs `work` once per key in flight: the leader runs it, a follower answers
    /// `follow(leader's outcome)`, looking again after each `pause()`. A follower of an
    /// abandoned leader enters again; one that has paused `max_pauses` times does the work
    /// itself, unregistered (a leader whose request died silently must not hold copies forever:
    /// at worst that copy is a second enqueue, never a loss).
    pub async fn run<W, WF, P, PF>(
        &self,
        key: &str,
        work: W,
        follow: impl Fn(T) -> T,
        pause: P,
        max_pauses: u32,
    ) -> T
    where
        W: FnOnce() -> WF,
        WF: Future<Output = T>,
        P: Fn() -> PF,
        PF: Future<Output = ()>,
    {
        let mut paused = 0;
        // `None`: this copy gave up waiting and works unregistered. One place awaits `work`:
        // its state machine is then in the caller's code once, not once per branch.
        let leader = 'wait: loop {
            match self.enter(key) {
                Entry::Leader(leader) => break Some(leader),
                Entry::Follower(outcome) => loop {
                    match outcome.get() {
                        Some(Some(o)) => return follow(o),
                        Some(None) => continue 'wait,
                        None if paused >= max_pauses => break 'wait None,
                        None => {
                            paused += 1;
                            pause().await;
                        }
                    }
                },
            }
        };
        let outcome = work().await;
        if let Some(leader) = leader {
            leader.finish(outcome.clone());
        }
        outcome
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
    use std::cell::Cell;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    fn poll<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A pause that is pending once, then ready: one turn of the hand-driven executor.
    struct Yield(bool);
    impl Future for Yield {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }

    #[test]
    fn a_signal_keeps_the_first_value() {
        let s: Signal<u32> = Signal::new();
        assert_eq!(s.get(), None);
        s.set(7);
        s.set(8);
        assert_eq!(s.clone().get(), Some(7));
    }

    #[test]
    fn followers_read_the_leaders_outcome_and_the_key_is_freed() {
        let c: Coalescer<Result<&str, &str>> = Coalescer::new();
        let Entry::Leader(leader) = c.enter("e1") else {
            panic!("the first copy leads")
        };
        let Entry::Follower(f) = c.enter("e1") else {
            panic!("a second copy follows")
        };
        assert!(
            matches!(c.enter("e2"), Entry::Leader(_)),
            "other ids are apart"
        );
        assert_eq!(f.get(), None);
        leader.finish(Ok("accepted"));
        assert_eq!(f.get(), Some(Some(Ok("accepted"))));
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
        let Entry::Follower(f) = c.enter("e") else {
            panic!()
        };
        drop(leader);
        assert_eq!(f.get(), Some(None));
        assert_eq!(c.in_flight(), 0);
    }

    type Answer = Result<&'static str, &'static str>;

    fn follow(r: Answer) -> Answer {
        r.map(|_| "duplicate")
    }

    /// Three copies through `run`, driven by hand: one does the work, the other two answer from
    /// its outcome, and an error is every copy's error.
    #[test]
    fn run_does_the_work_once_per_key_in_flight() {
        for result in [Ok("accepted"), Err("queue down")] {
            let c: Coalescer<Answer> = Coalescer::new();
            let gate: Signal<()> = Signal::new();
            let calls = Cell::new(0);
            let work = || {
                calls.set(calls.get() + 1);
                let gate = gate.clone();
                async move {
                    while gate.get().is_none() {
                        Yield(false).await;
                    }
                    result
                }
            };
            let pause = || Yield(false);
            let mut copies: Vec<_> = (0..3)
                .map(|_| Box::pin(c.run("id", work, follow, pause, 100)))
                .collect();
            for _ in 0..3 {
                for copy in &mut copies {
                    assert!(poll(copy.as_mut()).is_pending());
                }
            }
            gate.set(());
            let mut answers = Vec::new();
            for copy in &mut copies {
                // The leader finishes on its next poll; followers see it on one after a pause.
                let answer = (0..3).find_map(|_| match poll(copy.as_mut()) {
                    Poll::Ready(v) => Some(v),
                    Poll::Pending => None,
                });
                answers.push(answer.expect("answered"));
            }
            assert_eq!(calls.get(), 1, "the work ran once");
            let want = match result {
                Ok(_) => vec![Ok("accepted"), Ok("duplicate"), Ok("duplicate")],
                Err(e) => vec![Err(e); 3],
            };
            assert_eq!(answers, want);
            assert_eq!(c.in_flight(), 0);
        }
    }

    #[test]
    fn a_follower_stops_waiting_after_max_pauses_and_does_the_work() {
        let c: Coalescer<Answer> = Coalescer::new();
        let Entry::Leader(_stuck) = c.enter("id") else {
            panic!()
        };
        let calls = Cell::new(0);
        let work = || {
            calls.set(calls.get() + 1);
            async { Ok("accepted") }
        };
        let mut copy = Box::pin(c.run("id", work, follow, || Yield(false), 2));
        let mut polls = 0;
        let answer = loop {
            polls += 1;
            if let Poll::Ready(v) = poll(copy.as_mut()) {
                break v;
            }
        };
        assert_eq!((answer, calls.get()), (Ok("accepted"), 1));
        assert_eq!(polls, 3, "two pauses, then the work");
        assert_eq!(
            c.in_flight(),
            1,
            "the stuck leader's entry is its own to remove"
        );
    }

    #[test]
    fn a_follower_of_an_abandoned_leader_leads_next() {
        let c: Coalescer<Answer> = Coalescer::new();
        let Entry::Leader(gone) = c.enter("id") else {
            panic!()
        };
        let work = || async { Ok("accepted") };
        let mut copy = Box::pin(c.run("id", work, follow, || Yield(false), 100));
        assert!(poll(copy.as_mut()).is_pending());
        drop(gone);
        let answer = (0..3).find_map(|_| match poll(copy.as_mut()) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        });
        assert_eq!(answer, Some(Ok("accepted")), "it did the work itself");
        assert_eq!(c.in_flight(), 0);
    }
}
