//! A watch channel (one value, many observers) that wakes its waiters in the
//! order they began to wait, and draws no random numbers.
//!
//! tokio's `sync::watch` spreads its waiters over eight `Notify`s picked at
//! random from a per-thread rng that tokio seeds from a process-wide counter
//! when the thread runs no tokio runtime (as under madsim). Which waiter
//! woke first then depended on how many threads had drawn before: the same
//! seed run twice in one process scheduled tasks differently. This one is
//! used by the node's own code (applied index, shutdown) in every build, and
//! by openraft in the simulator (`crate::runtime`); its behaviour otherwise
//! follows tokio's: `changed` answers at once if a value was sent since this
//! receiver last looked, and fails once every sender is gone.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::task::{Context, Poll, Waker};

/// Every sender of the channel was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Who waits and what was sent; the value itself is beside it, under a
/// read-write lock, so borrows of the value do not block one another.
struct Meta {
    /// Counts the values sent (the first is version 0). Changed only while
    /// the value's write lock is held, so a reader holding the value reads
    /// the version that goes with it.
    version: u64,
    senders: usize,
    receivers: usize,
    /// Waiting receivers, by ticket: woken in ticket order.
    waiters: BTreeMap<u64, Waker>,
    next_ticket: u64,
}

struct Shared<T> {
    value: RwLock<T>,
    meta: Mutex<Meta>,
}

/// A lock poisoned by a panic elsewhere still holds a whole value (every
/// change is one assignment), so it stays usable.
fn unpoisoned<G>(locked: Result<G, std::sync::PoisonError<G>>) -> G {
    locked.unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T> Shared<T> {
    fn meta(&self) -> MutexGuard<'_, Meta> {
        unpoisoned(self.meta.lock())
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        unpoisoned(self.value.read())
    }

    /// Marks a new value sent and wakes every waiter, oldest first, after
    /// letting go of the lock.
    fn bump_and_wake(&self) {
        let mut meta = self.meta();
        meta.version += 1;
        let waiters = std::mem::take(&mut meta.waiters);
        drop(meta);
        wake(waiters);
    }
}

fn wake(waiters: BTreeMap<u64, Waker>) {
    for waker in waiters.into_values() {
        waker.wake();
    }
}

/// The sending half; clones share the channel.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half: remembers the last version it saw.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

/// A borrowed value; holds the value's read lock, so keep it short.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

/// A channel holding `init`, which its first receiver has seen.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        meta: Mutex::new(Meta {
            version: 0,
            senders: 1,
            receivers: 1,
            waiters: BTreeMap::new(),
            next_ticket: 0,
        }),
    });
    let receiver = Receiver {
        shared: shared.clone(),
        seen: 0,
    };
    (Sender { shared }, receiver)
}

impl<T> Sender<T> {
    /// Replaces the value and wakes the waiters; fails (handing the value
    /// back) when no receiver is left, as tokio's does.
    pub fn send(&self, value: T) -> Result<(), T> {
        if self.shared.meta().receivers == 0 {
            return Err(value);
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value whether or not anyone receives; returns the old.
    pub fn send_replace(&self, value: T) -> T {
        let mut current = unpoisoned(self.shared.value.write());
        let old = std::mem::replace(&mut *current, value);
        self.shared.bump_and_wake();
        old
    }

    /// Lets `modify` change the value in place; receivers hear of it only
    /// if it returns true.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut current = unpoisoned(self.shared.value.write());
        if !modify(&mut current) {
            return false;
        }
        self.shared.bump_and_wake();
        true
    }

    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
        }
    }

    /// A receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        let _value = self.shared.read();
        let mut meta = self.shared.meta();
        meta.receivers += 1;
        let seen = meta.version;
        drop(meta);
        Receiver {
            shared: self.shared.clone(),
            seen,
        }
    }

    pub fn receiver_count(&self) -> usize {
        self.shared.meta().receivers
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.meta().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut meta = self.shared.meta();
        assert!(meta.senders > 0, "a watch sender dropped twice");
        meta.senders -= 1;
        if meta.senders == 0 {
            let waiters = std::mem::take(&mut meta.waiters);
            drop(meta);
            wake(waiters);
        }
    }
}

impl<T> Receiver<T> {
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
        }
    }

    /// The value, now counted as seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        self.seen = self.shared.meta().version;
        Ref { guard }
    }

    /// Whether a value was sent since this receiver last looked.
    pub fn has_changed(&self) -> Result<bool, Closed> {
        let meta = self.shared.meta();
        if meta.version != self.seen {
            return Ok(true);
        }
        if meta.senders == 0 {
            return Err(Closed);
        }
        Ok(false)
    }

    /// Waits until a value this receiver has not seen was sent (at once if
    /// one was), and marks it seen. Fails when every sender is gone and
    /// nothing new is left.
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            receiver: self,
            ticket: None,
        }
    }

    /// Waits until the value satisfies `ready` (checked now, then after each
    /// change) and returns it, seen.
    pub async fn wait_for(
        &mut self,
        mut ready: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, Closed> {
        loop {
            if ready(&self.borrow_and_update()) {
                return Ok(self.borrow());
            }
            self.changed().await?;
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.meta().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut meta = self.shared.meta();
        assert!(meta.receivers > 0, "a watch receiver dropped twice");
        meta.receivers -= 1;
    }
}

/// [`Receiver::changed`]'s future. Dropping it takes its place in line
/// back.
pub struct Changed<'r, T> {
    receiver: &'r mut Receiver<T>,
    ticket: Option<u64>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut meta = this.receiver.shared.meta();
        if meta.version != this.receiver.seen {
            this.receiver.seen = meta.version;
            if let Some(ticket) = this.ticket.take() {
                meta.waiters.remove(&ticket);
            }
            return Poll::Ready(Ok(()));
        }
        if meta.senders == 0 {
            return Poll::Ready(Err(Closed));
        }
        // Keep the place in line across polls: the order of first waits is
        // the order of waking.
        let ticket = *this.ticket.get_or_insert_with(|| {
            let ticket = meta.next_ticket;
            meta.next_ticket += 1;
            ticket
        });
        meta.waiters.insert(ticket, cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            self.receiver.shared.meta().waiters.remove(&ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A waker that counts its wakes and records its name in `order`.
    struct Probe {
        name: usize,
        order: Arc<Mutex<Vec<usize>>>,
        wakes: AtomicUsize,
    }

    impl std::task::Wake for Probe {
        fn wake(self: Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            self.order.lock().expect("lock").push(self.name);
        }
    }

    fn probe(name: usize, order: &Arc<Mutex<Vec<usize>>>) -> Arc<Probe> {
        Arc::new(Probe {
            name,
            order: order.clone(),
            wakes: AtomicUsize::new(0),
        })
    }

    fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Arc<Probe>) -> Poll<F::Output> {
        let waker = Waker::from(waker.clone());
        Pin::new(future).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn waiters_wake_in_the_order_they_began_to_wait() {
        // Goal: five receivers waiting in order 3,1,4,0,2 are woken in that
        // order by one send, each exactly once, and then see the change.
        let (tx, rx) = channel(0u64);
        let mut receivers: Vec<Receiver<u64>> = (0..5).map(|_| rx.clone()).collect();
        let order = Arc::new(Mutex::new(Vec::new()));
        let probes: Vec<Arc<Probe>> = (0..5).map(|i| probe(i, &order)).collect();
        let mut futures: Vec<Option<Changed<'_, u64>>> =
            receivers.iter_mut().map(|r| Some(r.changed())).collect();
        for i in [3, 1, 4, 0, 2] {
            let future = futures[i].as_mut().expect("waiting");
            assert!(poll_once(future, &probes[i]).is_pending());
            // A second poll keeps the place in line.
            assert!(poll_once(future, &probes[i]).is_pending());
        }
        tx.send(7).expect("receivers exist");
        assert_eq!(*order.lock().expect("lock"), vec![3, 1, 4, 0, 2]);
        for (i, future) in futures.iter_mut().enumerate() {
            assert_eq!(probes[i].wakes.load(Ordering::SeqCst), 1);
            let ready = poll_once(future.as_mut().expect("waiting"), &probes[i]);
            assert_eq!(ready, Poll::Ready(Ok(())));
        }
        drop(futures);
        assert!(!receivers[0].has_changed().expect("a sender exists"));
        assert_eq!(*receivers[0].borrow(), 7);
    }

    #[test]
    fn changed_answers_at_once_for_an_unseen_value_and_fails_when_closed() {
        // Goal: tokio's semantics: an unseen value is reported even after the
        // senders are gone; then `changed` fails; `send` without receivers
        // fails and hands the value back; `send_replace` always works.
        let (tx, mut rx) = channel(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let waker = probe(0, &order);
        assert!(poll_once(&mut rx.changed(), &waker).is_pending());
        tx.send(2).expect("a receiver exists");
        let tx2 = tx.clone();
        drop(tx);
        tx2.send(3).expect("a receiver exists");
        drop(tx2);
        assert_eq!(poll_once(&mut rx.changed(), &waker), Poll::Ready(Ok(())));
        assert_eq!(*rx.borrow(), 3);
        assert_eq!(
            poll_once(&mut rx.changed(), &waker),
            Poll::Ready(Err(Closed))
        );
        assert_eq!(rx.has_changed(), Err(Closed));

        let (tx, rx) = channel(1);
        drop(rx);
        assert_eq!(tx.send(5), Err(5));
        assert_eq!(tx.send_replace(6), 1);
        let mut late = tx.subscribe();
        assert_eq!(tx.receiver_count(), 1);
        assert!(
            !late.has_changed().expect("a sender exists"),
            "a new receiver has seen the value"
        );
        assert!(!tx.send_if_modified(|_| false));
        assert!(!late.has_changed().expect("a sender exists"));
        assert!(tx.send_if_modified(|v| {
            *v += 1;
            true
        }));
        assert_eq!(*late.borrow_and_update(), 7);
        assert!(!late.has_changed().expect("a sender exists"));
    }

    #[test]
    fn a_dropped_wait_leaves_no_waker_behind() {
        // Goal: a `changed` future dropped before its value came takes its
        // waker out, so senders wake only live waiters.
        let (tx, mut rx) = channel(0);
        let order = Arc::new(Mutex::new(Vec::new()));
        let waker = probe(9, &order);
        {
            let mut waiting = rx.changed();
            assert!(poll_once(&mut waiting, &waker).is_pending());
        }
        assert!(tx.shared.meta().waiters.is_empty());
        tx.send(1).expect("a receiver exists");
        assert!(order.lock().expect("lock").is_empty());
    }

    #[test]
    fn wait_for_returns_the_first_value_that_satisfies() {
        // Goal: wait_for checks the current value first, then each change.
        let (tx, mut rx) = channel(0u64);
        let order = Arc::new(Mutex::new(Vec::new()));
        let waker = probe(0, &order);
        let mut waiting = Box::pin(rx.wait_for(|v| *v >= 2));
        assert!(poll_once(&mut waiting, &waker).is_pending());
        tx.send(1).expect("a receiver exists");
        assert!(poll_once(&mut waiting, &waker).is_pending());
        tx.send(3).expect("a receiver exists");
        let ready = match poll_once(&mut waiting, &waker) {
            Poll::Ready(Ok(value)) => *value,
            _ => panic!("ready"),
        };
        drop(waiting);
        assert_eq!(ready, 3);
    }
}
