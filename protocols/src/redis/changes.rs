//! What this node's Redis sessions take from the change log: one task per
//! shard follows the shard's [`orbit_net::changes::ChangeFeed`] and hands each applied entry's
//! published messages to the pub/sub hub and its changed keys to the
//! clients blocked on them ([`KeyWaiters`]). Nothing else listens to apply.
//!
//! The feed keeps its place in the log, so a burst of messages waits on
//! disk, not in memory. If delivery ever falls behind the change log's
//! retention ([`FeedError::Lagged`]), every subscriber is disconnected (it
//! may have missed messages, and is told so by losing its connection, as
//! Redis does past a pubsub output limit), every blocked client looks at
//! its keys again, and the feed resumes at the oldest entry still held.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use orbit_core::ShardId;
use orbit_net::changes::{FeedError, PageLimit};
use orbit_net::watch;
use tokio::sync::Notify;

use super::server::Shared;

/// The clients waiting on each store key, by registration ticket.
type ByKey = BTreeMap<Vec<u8>, BTreeMap<u64, Arc<Notify>>>;

/// Blocked clients by the store key they wait on.
#[derive(Default)]
pub struct KeyWaiters {
    by_key: Mutex<ByKey>,
    next_ticket: AtomicU64,
}

/// One client's wait on some keys; dropping it stops the wait.
pub struct Registration {
    waiters: Arc<KeyWaiters>,
    ticket: u64,
    keys: Vec<Vec<u8>>,
    notify: Arc<Notify>,
}

impl KeyWaiters {
    fn by_key(&self) -> std::sync::MutexGuard<'_, ByKey> {
        // Every change is one insert or remove: a poisoned map is whole.
        self.by_key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts waiting on the store keys `keys`. A change applied after
    /// this call wakes [`Registration::changed`], even one applied before
    /// the wait begins.
    pub fn register(self: &Arc<Self>, keys: Vec<Vec<u8>>) -> Registration {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let mut by_key = self.by_key();
        for key in &keys {
            by_key
                .entry(key.clone())
                .or_default()
                .insert(ticket, notify.clone());
        }
        Registration {
            waiters: self.clone(),
            ticket,
            keys,
            notify,
        }
    }

    /// Wakes the clients waiting on `key`.
    pub fn wake(&self, key: &[u8]) {
        if let Some(waiting) = self.by_key().get(key) {
            for notify in waiting.values() {
                notify.notify_one();
            }
        }
    }

    /// Wakes every waiting client (changes may have been missed).
    pub fn wake_all(&self) {
        for waiting in self.by_key().values() {
            for notify in waiting.values() {
                notify.notify_one();
            }
        }
    }

    /// How many keys have waiters (for tests and INFO).
    pub fn keys_waited_on(&self) -> usize {
        self.by_key().len()
    }
}

impl Registration {
    /// Resolves once one of the keys changed since the last call (or since
    /// registering).
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut by_key = self.waiters.by_key();
        for key in &self.keys {
            if let Some(waiting) = by_key.get_mut(key) {
                waiting.remove(&self.ticket);
                if waiting.is_empty() {
                    by_key.remove(key);
                }
            }
        }
    }
}

/// Follows shard `shard`'s change log until `shutdown` turns true or the
/// shard stops.
pub(super) async fn follow(
    shared: Arc<Shared>,
    shard: ShardId,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut feed = match shared.node.change_feed(shard) {
        Some(Ok(feed)) => feed,
        Some(Err(e)) => {
            tracing::error!(%shard, error = %e, "the change log cannot be read; pub/sub and blocking pops on this shard stop");
            return;
        }
        None => return,
    };
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            next = feed.next(PageLimit::default()) => next,
        };
        match next {
            Ok(page) => {
                for entry in page.entries {
                    for (channel, payload) in &entry.published {
                        deliver(&shared, channel, payload);
                    }
                    for change in entry.changes.iter().filter(|c| !c.deleted) {
                        shared.waiters.wake(&change.key);
                    }
                }
            }
            Err(FeedError::Lagged { from, floor }) => {
                lagged(&shared, from, floor);
                feed.seek(floor);
            }
            Err(FeedError::Closed) => return,
            Err(e @ FeedError::Store(_)) => {
                tracing::error!(%shard, error = %e, "reading the change log failed; retrying");
                shared.waiters.wake_all();
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Hands one message to its subscribers; disconnects the ones that cannot
/// keep up.
fn deliver(shared: &Shared, channel: &[u8], payload: &[u8]) {
    let slow = shared.with_hub(|hub| hub.deliver(channel, payload));
    for client in slow {
        tracing::warn!(client, "a subscriber fell too far behind; disconnecting it");
        shared.kill_clients(None, |id, _| id == client);
    }
}

/// Delivery fell behind retention: nobody may miss messages unknowingly.
fn lagged(shared: &Shared, from: u64, floor: u64) {
    let clients = shared.with_hub(|hub| hub.clients());
    tracing::warn!(
        from,
        floor,
        subscribers = clients.len(),
        "pub/sub delivery fell behind the change log's retention and lost messages; disconnecting every subscriber"
    );
    shared.kill_clients(None, |id, _| clients.contains(&id));
    shared.waiters.wake_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_before_the_wait_is_not_lost_and_dropping_unregisters() {
        // Goal: a wake between registering and waiting is kept (no lost
        // wake-up), a wake of another key does nothing, and a dropped
        // registration leaves no waiter behind.
        let waiters = Arc::new(KeyWaiters::default());
        let a = waiters.register(vec![b"a".to_vec(), b"b".to_vec()]);
        let c = waiters.register(vec![b"c".to_vec(), b"b".to_vec()]);
        assert_eq!(waiters.keys_waited_on(), 3);
        waiters.wake(b"a");
        tokio::time::timeout(std::time::Duration::from_secs(5), a.changed())
            .await
            .expect("the earlier wake is kept");
        waiters.wake(b"zzz");
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(20), c.changed()).await;
        assert!(quiet.is_err(), "woken by a key it does not wait on");
        waiters.wake_all();
        tokio::time::timeout(std::time::Duration::from_secs(5), c.changed())
            .await
            .expect("wake_all wakes it");
        drop(a);
        assert_eq!(waiters.keys_waited_on(), 2);
        drop(c);
        assert_eq!(waiters.keys_waited_on(), 0);
    }
}
