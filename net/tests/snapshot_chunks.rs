//! Snapshots travel in pieces (`PeerNetwork::full_snapshot` sending
//! `PeerRequest::SnapshotChunk`s): in order, one answered before the next
//! goes, together exactly the snapshot's bytes; a piece whose call fails
//! in transport goes again; a refused piece ends the send. The receiver's side (a node assembling and installing them) is
//! covered end to end by the cluster test that catches a lagging node up
//! by snapshot with small pieces (`protocols/tests/cluster.rs`).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::SnapshotResponse;
use openraft::{BasicNode, RaftNetworkV2};
use orbit_core::ShardId;
use orbit_net::network::NetworkFactory;
use orbit_net::transport::{BoxFuture, TransportError};
use orbit_net::wire::{PeerRequest, PeerResponse};
use orbit_net::Transport;
use orbit_storage::raft::types::{log_id, Snapshot, SnapshotMeta, Vote};

/// A piece as it arrived: (transfer, offset, last, data).
type Piece = (u64, u64, bool, Vec<u8>);

/// A follower's transport that keeps each piece it is sent, in arrival
/// order, and refuses the piece at `refuse_at` (an offset).
struct Receiver {
    pieces: Arc<Mutex<Vec<Piece>>>,
    refuse_at: Option<u64>,
    /// The piece at this offset arrives but its answer is lost, this many
    /// times.
    lose_answers: Option<(u64, Arc<Mutex<u32>>)>,
    /// Each call's timeout, in order.
    timeouts: Arc<Mutex<Vec<Duration>>>,
}

impl Transport for Receiver {
    fn call(
        &self,
        _target: u64,
        _addr: String,
        request: PeerRequest,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<PeerResponse, TransportError>> {
        self.timeouts.lock().expect("lock").push(timeout);
        let pieces = self.pieces.clone();
        let refuse_at = self.refuse_at;
        let lose_answers = self.lose_answers.clone();
        Box::pin(async move {
            let PeerRequest::SnapshotChunk {
                vote,
                transfer,
                offset,
                last,
                data,
                ..
            } = request
            else {
                return Err(TransportError::Unreachable("not a snapshot piece".into()));
            };
            pieces
                .lock()
                .expect("lock")
                .push((transfer, offset, last, data));
            if let Some((at, times)) = lose_answers {
                let mut times = times.lock().expect("lock");
                if at == offset && *times > 0 {
                    *times -= 1;
                    return Err(TransportError::Timeout(Duration::from_secs(5)));
                }
            }
            if refuse_at == Some(offset) {
                return Ok(PeerResponse::SnapshotChunk(Err("refused".into())));
            }
            Ok(PeerResponse::SnapshotChunk(Ok(
                last.then(|| SnapshotResponse::new(vote))
            )))
        })
    }
}

async fn send(
    transfers: &Arc<AtomicU64>,
    data: Vec<u8>,
    chunk: usize,
    refuse_at: Option<u64>,
) -> (Result<(), String>, Vec<Piece>) {
    send_losing(transfers, data, chunk, refuse_at, None).await
}

async fn send_losing(
    transfers: &Arc<AtomicU64>,
    data: Vec<u8>,
    chunk: usize,
    refuse_at: Option<u64>,
    lose_answers: Option<(u64, u32)>,
) -> (Result<(), String>, Vec<Piece>) {
    let (result, pieces, _) = send_timed(transfers, data, chunk, refuse_at, lose_answers).await;
    (result, pieces)
}

/// Sends with a piece timeout of 400 ms under a snapshot timeout of 5 s;
/// also returns each call's timeout.
async fn send_timed(
    transfers: &Arc<AtomicU64>,
    data: Vec<u8>,
    chunk: usize,
    refuse_at: Option<u64>,
    lose_answers: Option<(u64, u32)>,
) -> (Result<(), String>, Vec<Piece>, Vec<Duration>) {
    let pieces = Arc::new(Mutex::new(Vec::new()));
    let timeouts = Arc::new(Mutex::new(Vec::new()));
    let mut factory = NetworkFactory {
        transport: Arc::new(Receiver {
            pieces: pieces.clone(),
            refuse_at,
            lose_answers: lose_answers.map(|(at, times)| (at, Arc::new(Mutex::new(times)))),
            timeouts: timeouts.clone(),
        }),
        shard: ShardId(0),
        node_id: 7,
        snapshot_chunk_bytes: chunk,
        snapshot_piece_timeout: Duration::from_millis(400),
        transfers: transfers.clone(),
    };
    let mut network = factory
        .new_client(2, &BasicNode { addr: "f:1".into() })
        .await;
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            last_log_id: Some(log_id(3, 40)),
            ..Default::default()
        },
        snapshot: std::io::Cursor::new(data),
    };
    let vote = Vote::new_committed(3, 1);
    let result = network
        .full_snapshot(
            vote,
            snapshot,
            std::future::pending(),
            RPCOption::new(Duration::from_secs(5)),
        )
        .await
        .map(|response| assert_eq!(response.vote, vote))
        .map_err(|e| e.to_string());
    let pieces = pieces.lock().expect("lock").clone();
    let timeouts = timeouts.lock().expect("lock").clone();
    (result, pieces, timeouts)
}

#[tokio::test]
async fn a_snapshot_goes_in_ordered_pieces_that_add_up_to_it() {
    // Goal: 95 bytes in pieces of 10 make ten calls at offsets 0, 10, ..
    // 90, one transfer, only the tenth marked last, whose bytes together are
    // the snapshot; the last piece's answer is the send's result.
    let data: Vec<u8> = (0..95u8).collect();
    let (result, pieces) = send(&Default::default(), data.clone(), 10, None).await;
    assert_eq!(result, Ok(()));
    assert_eq!(pieces.len(), 10);
    let offsets: Vec<u64> = pieces.iter().map(|(_, offset, _, _)| *offset).collect();
    assert_eq!(offsets, (0..10).map(|i| i * 10).collect::<Vec<u64>>());
    let lasts: Vec<bool> = pieces.iter().map(|(_, _, last, _)| *last).collect();
    assert_eq!(lasts, (0..10).map(|i| i == 9).collect::<Vec<bool>>());
    assert!(pieces.iter().all(|(transfer, ..)| *transfer == pieces[0].0));
    assert_eq!(pieces[0].0 >> 32, 7, "the transfer id names the sender");
    let joined: Vec<u8> = pieces.into_iter().flat_map(|(.., data)| data).collect();
    assert_eq!(joined, data);
}

#[tokio::test]
async fn an_empty_snapshot_is_one_last_piece_and_transfers_differ() {
    // Goal: nothing to send is still one (last) piece, and two sends from
    // one shard are two transfers, so a receiver never joins one's pieces
    // to another's.
    let transfers = Arc::default();
    let (result, first) = send(&transfers, Vec::new(), 10, None).await;
    assert_eq!(result, Ok(()));
    assert_eq!(first.len(), 1);
    assert!(first[0].2, "the only piece is the last");
    let (_, second) = send(&transfers, vec![1], 10, None).await;
    assert_ne!(first[0].0, second[0].0);
}

#[tokio::test]
async fn a_refused_piece_ends_the_send() {
    // Goal: when the receiver refuses a piece (it does not follow what it
    // has), the send fails at once and sends nothing more; openraft sends
    // the snapshot again from the start.
    let (result, pieces) = send(&Default::default(), vec![0; 100], 10, Some(30)).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(pieces.len(), 4, "pieces at 0, 10, 20 and the refused 30");
}

#[tokio::test]
async fn a_piece_whose_answer_is_lost_is_sent_again() {
    // Goal: a piece whose call fails in transport (here: it arrived, the
    // answer did not) goes again, up to three more times, and the send
    // goes on; a piece that fails four times fails the send.
    let data: Vec<u8> = (0..50u8).collect();
    let (result, pieces) =
        send_losing(&Default::default(), data.clone(), 10, None, Some((20, 3))).await;
    assert_eq!(result, Ok(()));
    let offsets: Vec<u64> = pieces.iter().map(|(_, offset, _, _)| *offset).collect();
    assert_eq!(offsets, [0, 10, 20, 20, 20, 20, 30, 40]);
    let (result, pieces) = send_losing(&Default::default(), data, 10, None, Some((20, 4))).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(pieces.len(), 6, "0, 10, then 20 four times");
}

#[tokio::test]
async fn pieces_wait_a_piece_timeout_and_the_last_the_snapshot_timeout() {
    // Goal: a piece before the last waits at most the piece timeout (a lost
    // answer costs that much), the last piece, which installs the snapshot,
    // the whole snapshot timeout; a repeated piece keeps its own.
    let data: Vec<u8> = (0..30u8).collect();
    let (result, pieces, timeouts) =
        send_timed(&Default::default(), data, 10, None, Some((10, 1))).await;
    assert_eq!(result, Ok(()));
    let offsets: Vec<u64> = pieces.iter().map(|(_, offset, _, _)| *offset).collect();
    assert_eq!(offsets, [0, 10, 10, 20]);
    let piece = Duration::from_millis(400);
    assert_eq!(timeouts, [piece, piece, piece, Duration::from_secs(5)]);
}
