//! Pipelined replication: the leader's side (`PeerNetwork::stream_append`)
//! and the follower's transport (`serve` feeding `PeerHandler::stream_append`).
//!
//! Raft tolerates appends that arrive out of order (the follower answers a
//! conflict and the leader starts again), so these tests check what makes the
//! pipeline worth having: requests reach the follower's Raft in the order
//! sent, results come back in that order, the window bounds what is in
//! flight, and a stream that ends (after a conflict) makes room for a new one
//! instead of leaving calls unanswered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, StreamAppendError, StreamAppendResult};
use openraft::{BasicNode, EntryPayload, RaftNetworkV2};
use orbit_core::ShardId;
use orbit_net::network::NetworkFactory;
use orbit_net::peer_auth::PeerAuth;
use orbit_net::transport::{serve, AppendResults, BoxFuture, PeerHandler, TransportError};
use orbit_net::watch;
use orbit_net::wire::{PeerRequest, PeerResponse};
use orbit_net::{Net, TcpTransport, TokioNet, Transport};
use orbit_storage::raft::types::{log_id, Entry, LogId, Vote};
use orbit_storage::raft::TypeConfig;
use tokio::sync::mpsc;

const SHARD: ShardId = ShardId(0);
const TERM: u64 = 2;

/// Appends entries `first..=last` after entry `first - 1`.
fn append(first: u64, last: u64) -> AppendEntriesRequest<TypeConfig> {
    let entries: Vec<Entry> = (first..=last)
        .map(|index| Entry {
            log_id: log_id(TERM, index),
            payload: EntryPayload::Blank,
        })
        .collect();
    AppendEntriesRequest {
        vote: Vote::new_committed(TERM, 1),
        prev_log_id: first.checked_sub(1).map(|prev| log_id(TERM, prev)),
        leader_commit: None,
        entries,
    }
}

fn last_of(rpc: &AppendEntriesRequest<TypeConfig>) -> Option<LogId> {
    rpc.entries.last().map(|e| e.log_id).or(rpc.prev_log_id)
}

/// A follower's Raft as far as the transport sees it: answers each append
/// with the last log id it carries, records the order appends arrived in,
/// and answers a conflict (then ends its stream, as openraft's does) for an
/// append whose first entry is `conflict_at`.
struct FakeFollower {
    arrived: Arc<Mutex<Vec<u64>>>,
    streams: Arc<AtomicUsize>,
    conflict_at: u64,
}

impl PeerHandler for FakeFollower {
    fn handle(&self, _request: PeerRequest) -> BoxFuture<'static, PeerResponse> {
        Box::pin(async { PeerResponse::NoSuchShard(ShardId(99)) })
    }

    fn stream_append(
        &self,
        shard: ShardId,
        input: mpsc::Receiver<AppendEntriesRequest<TypeConfig>>,
    ) -> Option<AppendResults> {
        if shard != SHARD {
            return None;
        }
        self.streams.fetch_add(1, Ordering::SeqCst);
        let arrived = self.arrived.clone();
        let conflict_at = self.conflict_at;
        let results = futures_util::stream::unfold((input, false), move |(mut input, ended)| {
            let arrived = arrived.clone();
            async move {
                if ended {
                    return None;
                }
                let rpc = input.recv().await?;
                let first = rpc.prev_log_id.map_or(0, |id| id.index + 1);
                arrived.lock().expect("lock").push(first);
                if first == conflict_at {
                    let conflict: StreamAppendResult<TypeConfig> = Err(
                        StreamAppendError::Conflict(rpc.prev_log_id.expect("not the first")),
                    );
                    return Some((Ok(conflict), (input, true)));
                }
                Some((Ok(Ok(last_of(&rpc))), (input, false)))
            }
        });
        Some(Box::pin(results))
    }
}

/// A free port on the loopback interface.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    drop(listener);
    addr
}

async fn start_follower(
    conflict_at: u64,
) -> (
    String,
    Arc<Mutex<Vec<u64>>>,
    Arc<AtomicUsize>,
    watch::Sender<bool>,
) {
    let addr = free_addr();
    let listener = TokioNet.bind(addr.clone()).await.expect("listen");
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let streams = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(FakeFollower {
        arrived: arrived.clone(),
        streams: streams.clone(),
        conflict_at,
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(serve(listener, handler, auth(), shutdown_rx));
    (addr, arrived, streams, shutdown_tx)
}

fn auth() -> PeerAuth {
    PeerAuth::new(b"test cluster", 1)
}

async fn call(
    transport: &TcpTransport,
    addr: &str,
    rpc: AppendEntriesRequest<TypeConfig>,
) -> PeerResponse {
    let request = PeerRequest::StreamAppend { shard: SHARD, rpc };
    transport
        .call(1, addr.to_string(), request, Duration::from_secs(5))
        .await
        .expect("the follower answers")
}

// Two worker threads: tasks spawned per request could run in any order here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_pipelined_appends_in_order_and_answers_in_order() {
    // Goal: 32 appends sent without waiting reach the follower's Raft in the
    // order sent, and each caller gets the result of its own append.
    let (addr, arrived, streams, _shutdown) = start_follower(u64::MAX).await;
    let transport = TcpTransport::new(Arc::new(TokioNet), auth());
    // One call first, so that the pipelined ones share one connection.
    assert!(matches!(
        call(&transport, &addr, append(1, 1)).await,
        PeerResponse::StreamAppend(Ok(Ok(Some(id)))) if id == log_id(TERM, 1)
    ));
    let calls: Vec<_> = (2..=33)
        .map(|i| call(&transport, &addr, append(i, i)))
        .collect();
    let responses = futures_util::future::join_all(calls).await;
    for (i, response) in (2..=33).zip(responses) {
        match response {
            PeerResponse::StreamAppend(Ok(Ok(Some(id)))) => assert_eq!(id, log_id(TERM, i)),
            other => panic!("append {i}: {other:?}"),
        }
    }
    assert_eq!(
        *arrived.lock().expect("lock"),
        (1..=33).collect::<Vec<u64>>()
    );
    assert_eq!(
        streams.load(Ordering::SeqCst),
        1,
        "one stream served them all"
    );
}

#[tokio::test]
async fn after_a_conflict_the_follower_starts_a_new_stream() {
    // Goal: the conflict ends the follower's stream (as openraft's does);
    // the next append is served by a new stream, not left unanswered.
    let (addr, _arrived, streams, _shutdown) = start_follower(3).await;
    let transport = TcpTransport::new(Arc::new(TokioNet), auth());
    for i in 1..=2 {
        assert!(matches!(
            call(&transport, &addr, append(i, i)).await,
            PeerResponse::StreamAppend(Ok(Ok(Some(_))))
        ));
    }
    assert!(matches!(
        call(&transport, &addr, append(3, 3)).await,
        PeerResponse::StreamAppend(Ok(Err(StreamAppendError::Conflict(id)))) if id == log_id(TERM, 2)
    ));
    // The stream's end reaches the transport just after the conflict.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(
        call(&transport, &addr, append(4, 4)).await,
        PeerResponse::StreamAppend(Ok(Ok(Some(id)))) if id == log_id(TERM, 4)
    ));
    assert_eq!(streams.load(Ordering::SeqCst), 2);
    // A shard the follower does not host is refused, not left hanging.
    let request = PeerRequest::StreamAppend {
        shard: ShardId(7),
        rpc: append(5, 5),
    };
    let response = transport
        .call(1, addr.clone(), request, Duration::from_secs(5))
        .await
        .expect("answered");
    assert!(matches!(response, PeerResponse::NoSuchShard(ShardId(7))));
}

/// `TokioNet` whose connects take a while and are counted; with `refuse`,
/// they fail after that while.
struct SlowDialNet {
    dials: Arc<AtomicUsize>,
    refuse: bool,
}

impl Net for SlowDialNet {
    fn bind(
        &self,
        addr: String,
    ) -> BoxFuture<'static, std::io::Result<Box<dyn orbit_net::netio::Listener>>> {
        TokioNet.bind(addr)
    }

    fn connect(
        &self,
        addr: String,
    ) -> BoxFuture<'static, std::io::Result<Box<dyn orbit_net::netio::Stream>>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        let refuse = self.refuse;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if refuse {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "refused",
                ));
            }
            TokioNet.connect(addr).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_racing_at_connect_share_one_connection() {
    // Goal: appends sent together before any connection exists dial once
    // and go out on that one connection, in order (two connections could
    // deliver them out of order, which Raft answers with a conflict).
    let (addr, arrived, streams, _shutdown) = start_follower(u64::MAX).await;
    let dials = Arc::new(AtomicUsize::new(0));
    let transport = TcpTransport::new(
        Arc::new(SlowDialNet {
            dials: dials.clone(),
            refuse: false,
        }),
        auth(),
    );
    let calls: Vec<_> = (1..=16)
        .map(|i| call(&transport, &addr, append(i, i)))
        .collect();
    for (i, response) in (1..=16).zip(futures_util::future::join_all(calls).await) {
        match response {
            PeerResponse::StreamAppend(Ok(Ok(Some(id)))) => assert_eq!(id, log_id(TERM, i)),
            other => panic!("append {i}: {other:?}"),
        }
    }
    assert_eq!(dials.load(Ordering::SeqCst), 1, "one dial for all 16 calls");
    assert_eq!(
        *arrived.lock().expect("lock"),
        (1..=16).collect::<Vec<u64>>()
    );
    assert_eq!(streams.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_waiting_on_a_failed_dial_fail_with_it() {
    // Goal: calls queued behind a dial that fails share its failure instead
    // of dialing one after another (a partitioned peer would cost each a
    // connect timeout); a call that comes later dials again.
    let dials = Arc::new(AtomicUsize::new(0));
    let transport = TcpTransport::new(
        Arc::new(SlowDialNet {
            dials: dials.clone(),
            refuse: true,
        }),
        auth(),
    );
    let addr = free_addr();
    let calls: Vec<_> = (1..=8)
        .map(|i| {
            let request = PeerRequest::StreamAppend {
                shard: SHARD,
                rpc: append(i, i),
            };
            transport.call(1, addr.clone(), request, Duration::from_secs(5))
        })
        .collect();
    for result in futures_util::future::join_all(calls).await {
        assert!(
            matches!(result, Err(TransportError::Unreachable(_))),
            "{result:?}"
        );
    }
    assert_eq!(dials.load(Ordering::SeqCst), 1, "one dial for all 8 calls");
    let request = PeerRequest::StreamAppend {
        shard: SHARD,
        rpc: append(9, 9),
    };
    let later = transport
        .call(1, addr, request, Duration::from_secs(5))
        .await;
    assert!(matches!(later, Err(TransportError::Unreachable(_))));
    assert_eq!(dials.load(Ordering::SeqCst), 2, "a later call dials again");
}

/// A transport that answers stream appends after a delay that shrinks with
/// the index (so later calls finish first), counting how many are in flight.
struct ReversingTransport {
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    conflict_at: u64,
    sent: Arc<Mutex<BTreeMap<u64, ()>>>,
}

impl Transport for ReversingTransport {
    fn call(
        &self,
        _target: u64,
        _addr: String,
        request: PeerRequest,
        _timeout: Duration,
    ) -> BoxFuture<'static, Result<PeerResponse, TransportError>> {
        let in_flight = self.in_flight.clone();
        let most = self.most_in_flight.clone();
        let conflict_at = self.conflict_at;
        let sent = self.sent.clone();
        Box::pin(async move {
            let PeerRequest::StreamAppend { rpc, .. } = request else {
                return Err(TransportError::Unreachable("not an append".into()));
            };
            let first = rpc.prev_log_id.map_or(0, |id| id.index + 1);
            sent.lock().expect("lock").insert(first, ());
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(40u64.saturating_sub(first * 2))).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            if first == conflict_at {
                let prev = rpc.prev_log_id.expect("not the first");
                return Ok(PeerResponse::StreamAppend(Ok(Err(
                    StreamAppendError::Conflict(prev),
                ))));
            }
            Ok(PeerResponse::StreamAppend(Ok(Ok(last_of(&rpc)))))
        })
    }
}

async fn leader_stream(
    conflict_at: u64,
    appends: u64,
) -> (
    Vec<Result<StreamAppendResult<TypeConfig>, String>>,
    usize,
    usize,
) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(BTreeMap::new()));
    let transport = Arc::new(ReversingTransport {
        in_flight,
        most_in_flight: most.clone(),
        conflict_at,
        sent: sent.clone(),
    });
    let mut factory = NetworkFactory {
        transport,
        shard: SHARD,
        node_id: 1,
        snapshot_chunk_bytes: 1 << 20,
        snapshot_piece_timeout: Duration::from_secs(1),
        transfers: Default::default(),
    };
    let node = BasicNode {
        addr: "follower:1".into(),
    };
    let mut network = factory.new_client(2, &node).await;
    let input = futures_util::stream::iter((1..=appends).map(|i| append(i, i)));
    let option = RPCOption::new(Duration::from_secs(5));
    let results = network
        .stream_append(input, option)
        .await
        .expect("the stream starts");
    let results: Vec<_> = results
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
        .await;
    let sent = sent.lock().expect("lock").len();
    (results, most.load(Ordering::SeqCst), sent)
}

#[tokio::test]
async fn the_leader_keeps_a_window_of_appends_and_yields_results_in_order() {
    // Goal: later appends finishing first changes nothing: results come out
    // in request order; the window keeps several, and at most 8, in flight.
    let (results, most, sent) = leader_stream(u64::MAX, 20).await;
    let expected: Vec<_> = (1..=20).map(|i| Ok(Ok(Some(log_id(TERM, i))))).collect();
    assert_eq!(results, expected);
    assert!(most > 1, "appends overlapped ({most} at most)");
    assert!(most <= 8, "the window holds at most 8 ({most})");
    assert_eq!(sent, 20);
}

#[tokio::test]
async fn the_leader_stream_ends_at_a_conflict() {
    // Goal: the results stop with the conflict, even though later appends
    // (already sent in the window) succeeded: openraft starts again from
    // what the follower reported.
    let (results, _, _) = leader_stream(5, 20).await;
    let mut expected: Vec<Result<StreamAppendResult<TypeConfig>, String>> =
        (1..=4).map(|i| Ok(Ok(Some(log_id(TERM, i))))).collect();
    expected.push(Ok(Err(StreamAppendError::Conflict(log_id(TERM, 4)))));
    assert_eq!(results, expected);
}
