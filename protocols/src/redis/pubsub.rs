//! Pub/sub. PUBLISH is a log entry like any write; every node applies it
//! and hands the message to its own subscribers (`Hub::deliver`, fed by the
//! node's published-message stream). So a subscriber connected to any node
//! receives every message committed after its SUBSCRIBE took effect there,
//! in log order, at most once: messages are not stored, a node that catches
//! up by snapshot skips the ones the snapshot covers, and a client too slow
//! to keep [`CLIENT_QUEUE`] messages or [`CLIENT_QUEUE_BYTES_MAX`] bytes of
//! them is disconnected (as by Redis's pubsub output buffer hard limit). PUBLISH replies how many subscribers on the node
//! that ran it match the channel, as Redis Cluster does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::session::{err, Session};
use crate::resp::codec::{Frame, Protocol};

/// Messages waiting for one client, at most.
const CLIENT_QUEUE: usize = 4096;
/// Bytes of messages waiting for one client, at most: Redis's default
/// `client-output-buffer-limit pubsub` hard limit (32 MB).
pub const CLIENT_QUEUE_BYTES_MAX: usize = 32 << 20;

/// A message for one client.
#[derive(Debug, Clone)]
pub enum Delivery {
    Message {
        channel: Vec<u8>,
        payload: Vec<u8>,
    },
    PMessage {
        pattern: Vec<u8>,
        channel: Vec<u8>,
        payload: Vec<u8>,
    },
}

impl Delivery {
    /// The bytes it holds, as counted against [`CLIENT_QUEUE_BYTES_MAX`].
    fn bytes(&self) -> usize {
        match self {
            Delivery::Message { channel, payload } => channel.len() + payload.len(),
            Delivery::PMessage {
                pattern,
                channel,
                payload,
            } => pattern.len() + channel.len() + payload.len(),
        }
    }
}

/// One client's message queue, as the hub holds it.
#[derive(Clone)]
pub struct Subscriber {
    sender: mpsc::Sender<Delivery>,
    /// Bytes of the messages queued and not yet taken by the client.
    queued: Arc<AtomicUsize>,
}

impl Subscriber {
    /// Queues `delivery`, unless the client already has too many messages
    /// or bytes waiting; false then.
    fn offer(&self, delivery: Delivery) -> bool {
        let bytes = delivery.bytes();
        let before = self.queued.fetch_add(bytes, Ordering::SeqCst);
        if before + bytes > CLIENT_QUEUE_BYTES_MAX || self.sender.try_send(delivery).is_err() {
            self.queued.fetch_sub(bytes, Ordering::SeqCst);
            return false;
        }
        true
    }
}

type Subscribers = BTreeMap<Vec<u8>, BTreeMap<u64, Subscriber>>;

/// Who listens to what on this node.
#[derive(Default)]
pub struct Hub {
    channels: Subscribers,
    patterns: Subscribers,
}

impl Hub {
    /// Hands a published message to every matching subscriber; returns the
    /// clients that could not keep up (to be disconnected).
    pub fn deliver(&self, channel: &[u8], payload: &[u8]) -> Vec<u64> {
        let mut slow = Vec::new();
        if let Some(clients) = self.channels.get(channel) {
            for (client, sender) in clients {
                let delivery = Delivery::Message {
                    channel: channel.to_vec(),
                    payload: payload.to_vec(),
                };
                if !sender.offer(delivery) {
                    slow.push(*client);
                }
            }
        }
        for (pattern, clients) in &self.patterns {
            if !orbit_core::redis::glob::glob_match(pattern, channel, false) {
                continue;
            }
            for (client, sender) in clients {
                let delivery = Delivery::PMessage {
                    pattern: pattern.clone(),
                    channel: channel.to_vec(),
                    payload: payload.to_vec(),
                };
                if !sender.offer(delivery) {
                    slow.push(*client);
                }
            }
        }
        slow
    }

    /// How many subscriptions (channel and pattern) match `channel`.
    pub fn receivers(&self, channel: &[u8]) -> usize {
        let direct = self.channels.get(channel).map_or(0, BTreeMap::len);
        let by_pattern: usize = self
            .patterns
            .iter()
            .filter(|(pattern, _)| orbit_core::redis::glob::glob_match(pattern, channel, false))
            .map(|(_, clients)| clients.len())
            .sum();
        direct + by_pattern
    }

    /// The subscribers by channel, or by pattern.
    fn subscribers(&mut self, patterns: bool) -> &mut Subscribers {
        if patterns {
            &mut self.patterns
        } else {
            &mut self.channels
        }
    }

    /// Every client subscribed to a channel or a pattern.
    pub fn clients(&self) -> BTreeSet<u64> {
        self.channels
            .values()
            .chain(self.patterns.values())
            .flat_map(|clients| clients.keys().copied())
            .collect()
    }

    /// Drops every subscription of `client` (it disconnected).
    pub fn forget(&mut self, client: u64) {
        for map in [&mut self.channels, &mut self.patterns] {
            map.retain(|_, clients| {
                clients.remove(&client);
                !clients.is_empty()
            });
        }
    }
}

/// A connection's subscriptions.
pub(super) struct Subscriptions {
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    subscriber: Subscriber,
    receiver: mpsc::Receiver<Delivery>,
}

impl Subscriptions {
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// (channels, patterns) subscribed.
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.channels.len(), self.patterns.len())
    }

    /// The channels subscribed, or the patterns.
    fn names(&mut self, patterns: bool) -> &mut BTreeSet<Vec<u8>> {
        if patterns {
            &mut self.patterns
        } else {
            &mut self.channels
        }
    }

    /// A (P)SUBSCRIBE / (P)UNSUBSCRIBE confirmation: kind, name, count.
    fn confirmation(&self, protocol: Protocol, kind: &[u8], name: Frame) -> Frame {
        let count = i64::try_from(self.count()).unwrap_or(i64::MAX);
        event(protocol, vec![bulk(kind), name, Frame::Integer(count)])
    }
}

/// Commands a RESP2 client may send while subscribed.
const ALLOWED_WHILE_SUBSCRIBED: &[&str] = &[
    "subscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

fn bulk(bytes: &[u8]) -> Frame {
    Frame::Bulk(bytes.to_vec())
}

/// A pub/sub event frame: a push in RESP3, an array in RESP2.
pub(super) fn event(protocol: Protocol, items: Vec<Frame>) -> Frame {
    if protocol == Protocol::Resp3 {
        Frame::Push(items)
    } else {
        Frame::Array(items)
    }
}

impl Delivery {
    pub(super) fn frame(self, protocol: Protocol) -> Frame {
        match self {
            Delivery::Message { channel, payload } => event(
                protocol,
                vec![bulk(b"message"), Frame::Bulk(channel), Frame::Bulk(payload)],
            ),
            Delivery::PMessage {
                pattern,
                channel,
                payload,
            } => event(
                protocol,
                vec![
                    bulk(b"pmessage"),
                    Frame::Bulk(pattern),
                    Frame::Bulk(channel),
                    Frame::Bulk(payload),
                ],
            ),
        }
    }
}

impl Session {
    pub(super) fn subscription_count(&self) -> usize {
        self.subscriptions.as_ref().map_or(0, Subscriptions::count)
    }

    /// RESP2 allows only the pub/sub commands once subscribed.
    pub(super) fn refused_while_subscribed(&self, name: &str) -> Option<Frame> {
        (self.protocol == Protocol::Resp2
            && self.subscription_count() > 0
            && !ALLOWED_WHILE_SUBSCRIBED.contains(&name))
        .then(|| {
            err(format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ))
        })
    }

    /// The next message for this client; never resolves when it has no
    /// subscriptions.
    pub async fn next_delivery(&mut self) -> Delivery {
        match &mut self.subscriptions {
            Some(subscriptions) => match subscriptions.receiver.recv().await {
                Some(delivery) => {
                    let queued = &subscriptions.subscriber.queued;
                    queued.fetch_sub(delivery.bytes(), Ordering::SeqCst);
                    delivery
                }
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    fn subscriptions_mut(&mut self) -> &mut Subscriptions {
        self.subscriptions.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(CLIENT_QUEUE);
            Subscriptions {
                channels: BTreeSet::new(),
                patterns: BTreeSet::new(),
                subscriber: Subscriber {
                    sender,
                    queued: Arc::new(AtomicUsize::new(0)),
                },
                receiver,
            }
        })
    }

    /// SUBSCRIBE / PSUBSCRIBE: one confirmation per name.
    pub(super) fn subscribe(
        &mut self,
        names: &[Vec<u8>],
        patterns: bool,
        replies: &mut Vec<Frame>,
    ) {
        let id = self.id;
        let protocol = self.protocol;
        let shared = self.shared.clone();
        let subscriptions = self.subscriptions_mut();
        let subscriber = subscriptions.subscriber.clone();
        let kind: &[u8] = if patterns {
            b"psubscribe"
        } else {
            b"subscribe"
        };
        for name in names {
            if subscriptions.names(patterns).insert(name.clone()) {
                shared.with_hub(|hub| {
                    hub.subscribers(patterns)
                        .entry(name.clone())
                        .or_default()
                        .insert(id, subscriber.clone());
                });
            }
            replies.push(subscriptions.confirmation(protocol, kind, bulk(name)));
        }
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE: the names given, or all of them.
    pub(super) fn unsubscribe(
        &mut self,
        names: &[Vec<u8>],
        patterns: bool,
        replies: &mut Vec<Frame>,
    ) {
        let id = self.id;
        let protocol = self.protocol;
        let shared = self.shared.clone();
        let kind: &[u8] = if patterns {
            b"punsubscribe"
        } else {
            b"unsubscribe"
        };
        let subscriptions = self.subscriptions_mut();
        let names: Vec<Vec<u8>> = if names.is_empty() {
            subscriptions.names(patterns).iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            replies.push(subscriptions.confirmation(protocol, kind, Frame::Null));
            return;
        }
        for name in names {
            if subscriptions.names(patterns).remove(&name) {
                shared.with_hub(|hub| {
                    let map = hub.subscribers(patterns);
                    if let Some(clients) = map.get_mut(&name) {
                        clients.remove(&id);
                        if clients.is_empty() {
                            map.remove(&name);
                        }
                    }
                });
            }
            replies.push(subscriptions.confirmation(protocol, kind, Frame::Bulk(name)));
        }
    }

    /// PUBSUB CHANNELS [pattern] / NUMSUB [channel ...] / NUMPAT, for this
    /// node's subscribers.
    pub(super) fn pubsub(&self, args: &[Vec<u8>]) -> Frame {
        let sub = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        match (sub.as_str(), &args[1..]) {
            ("CHANNELS", rest) if rest.len() <= 1 => self.shared.with_hub(|hub| {
                Frame::Array(
                    hub.channels
                        .keys()
                        .filter(|channel| {
                            rest.first().is_none_or(|p| {
                                orbit_core::redis::glob::glob_match(p, channel, false)
                            })
                        })
                        .map(|channel| bulk(channel))
                        .collect(),
                )
            }),
            ("NUMSUB", channels) => self.shared.with_hub(|hub| {
                Frame::Array(
                    channels
                        .iter()
                        .flat_map(|channel| {
                            let count = hub.channels.get(channel).map_or(0, BTreeMap::len);
                            [
                                bulk(channel),
                                Frame::Integer(i64::try_from(count).unwrap_or(i64::MAX)),
                            ]
                        })
                        .collect(),
                )
            }),
            ("NUMPAT", []) => self.shared.with_hub(|hub| {
                Frame::Integer(i64::try_from(hub.patterns.len()).unwrap_or(i64::MAX))
            }),
            ("CHANNELS" | "NUMPAT", _) => err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                sub.to_ascii_lowercase()
            )),
            _ => err(format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&args[0])
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber() -> (Subscriber, mpsc::Receiver<Delivery>) {
        let (sender, receiver) = mpsc::channel(4);
        let subscriber = Subscriber {
            sender,
            queued: Arc::new(AtomicUsize::new(0)),
        };
        (subscriber, receiver)
    }

    #[test]
    fn clients_lists_channel_and_pattern_subscribers_once() {
        // Goal: everyone who would lose messages when delivery lags is
        // named, each once, and a forgotten client no longer is.
        let mut hub = Hub::default();
        let (one, _r1) = subscriber();
        let (two, _r2) = subscriber();
        for (name, client, sub) in [(&b"a"[..], 1, &one), (b"b", 1, &one), (b"a", 2, &two)] {
            hub.subscribers(false)
                .entry(name.to_vec())
                .or_default()
                .insert(client, sub.clone());
        }
        hub.subscribers(true)
            .entry(b"*".to_vec())
            .or_default()
            .insert(3, one.clone());
        assert_eq!(hub.clients(), BTreeSet::from([1, 2, 3]));
        hub.forget(1);
        assert_eq!(hub.clients(), BTreeSet::from([2, 3]));
        assert_eq!(Hub::default().clients(), BTreeSet::new());
    }
}
