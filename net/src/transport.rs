//! The peer transport seam and its TCP implementation.
//!
//! [`Transport::call`] sends one request to a node and waits, bounded by a
//! timeout, for its response. The TCP transport keeps one persistent
//! connection per peer and multiplexes calls over it by call id, so Raft
//! replication, votes and forwarded client commands share it without
//! head-of-line waits. A broken connection fails every call in flight and is
//! re-established by the next call.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use openraft::raft::{AppendEntriesRequest, StreamAppendResult};
use orbit_core::ShardId;
use orbit_storage::raft::TypeConfig;
use orbit_storage::watch;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

pub use crate::netio::BoxFuture;
use crate::netio::{Listener, Net, Stream};
use crate::peer_auth::{PeerAuth, RefusalLog};
use crate::wire::{encode, read_frame, PeerRequest, PeerResponse};

pub type BoxStream<'a, T> = Pin<Box<dyn futures_util::Stream<Item = T> + Send + 'a>>;

/// The results of one pipelined append stream, in request order.
pub type AppendResults = BoxStream<'static, Result<StreamAppendResult<TypeConfig>, String>>;

/// Appends one connection may have queued for a shard's Raft and not yet
/// answered, at most; the leader keeps far fewer in flight.
const APPEND_QUEUE_MAX: usize = 64;

/// Frames queued for one connection's writer, at most.
const WRITE_QUEUE_MAX: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The request was not sent: the peer cannot be reached.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The request may have been delivered; no answer came in time.
    #[error("peer call timed out after {0:?}")]
    Timeout(Duration),
    /// The request may have been delivered; the connection broke.
    #[error("peer connection closed: {0}")]
    Closed(String),
}

/// Sends requests to peers. The simulator may supply its own.
pub trait Transport: Send + Sync + 'static {
    fn call(
        &self,
        target: u64,
        addr: String,
        request: PeerRequest,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<PeerResponse, TransportError>>;
}

/// Answers requests from peers.
pub trait PeerHandler: Send + Sync + 'static {
    fn handle(&self, request: PeerRequest) -> BoxFuture<'static, PeerResponse>;

    /// Starts a pipelined append stream into `shard`'s Raft: the requests
    /// sent on `input` reach it in order, and their results come out in the
    /// same order. The stream ends after the first error. `None`: the shard
    /// is not hosted here.
    fn stream_append(
        &self,
        shard: ShardId,
        input: mpsc::Receiver<AppendEntriesRequest<TypeConfig>>,
    ) -> Option<AppendResults>;
}

type Pending = Arc<Mutex<BTreeMap<u64, oneshot::Sender<PeerResponse>>>>;
/// One slot per (node, address). A caller holds the slot's lock while it
/// dials, so calls racing at (re)connect share one connection: pipelined
/// appends rely on every frame to a peer going out on one connection, in
/// order.
type Slot = Arc<PeerSlot>;

#[derive(Default)]
struct PeerSlot {
    dial: tokio::sync::Mutex<Dial>,
    /// Dials finished so far: a call that waited while one failed fails
    /// with it instead of dialing again (calls queued behind a peer that
    /// is partitioned away would otherwise wait a connect timeout each).
    dials: AtomicU64,
}

#[derive(Default)]
struct Dial {
    conn: Option<Arc<Connection>>,
    /// Why the last dial failed, if it did.
    failed: Option<String>,
}
type Connections = Arc<Mutex<BTreeMap<(u64, String, Lane), Slot>>>;

/// Which of a peer's two connections a request takes. Bulk data (log
/// appends with entries, snapshot pieces, forwarded writes) goes on one;
/// what must stay prompt (votes, heartbeats, reads, membership) on the
/// other, so a heartbeat never waits behind a 100 MB append and a follower
/// does not call an election while a large entry is on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lane {
    Prompt,
    Bulk,
}

fn lane(request: &PeerRequest) -> Lane {
    match request {
        PeerRequest::StreamAppend { .. }
        | PeerRequest::SnapshotChunk { .. }
        | PeerRequest::Write { .. } => Lane::Bulk,
        PeerRequest::AppendEntries { rpc, .. } if !rpc.entries.is_empty() => Lane::Bulk,
        _ => Lane::Prompt,
    }
}

/// A call's timeout grows by this much per byte of its frame (20 MB/s), so
/// a large append has time to cross, be written and be answered.
const TIMEOUT_NS_PER_BYTE: u64 = 50;

struct Connection {
    tx: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    /// Frames received so far; a call that times out while this stood still
    /// means the connection went silent.
    received: Arc<AtomicU64>,
    /// Bytes of the calls sent and not yet answered: a call waits behind
    /// them, so its timeout grows with them too.
    unanswered_bytes: AtomicU64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Connection {
    /// Gives up on the connection: the next call reconnects. A connection
    /// whose peer vanished without a reset (a dropped partition, a lost
    /// firewall state) would otherwise stall every call forever.
    fn abandon(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for task in &self.tasks {
            task.abort();
        }
        self.pending.lock().expect("pending lock").clear();
    }
}

/// Stream connections to peers, one per (node, address).
#[derive(Clone)]
pub struct TcpTransport {
    net: Arc<dyn Net>,
    auth: PeerAuth,
    connections: Connections,
}

impl TcpTransport {
    /// Connections open with `auth`'s handshake (`peer_auth`).
    pub fn new(net: Arc<dyn Net>, auth: PeerAuth) -> TcpTransport {
        TcpTransport {
            net,
            auth,
            connections: Connections::default(),
        }
    }

    /// Connects to `addr` and proves the cluster secret, within the
    /// connect timeout.
    async fn dial(&self, addr: &str) -> Result<Box<dyn Stream>, String> {
        let dialing = async {
            let mut stream = self
                .net
                .connect(addr.to_string())
                .await
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            self.auth.dial(&mut stream).await.map_err(|e| {
                tracing::warn!(%addr, error = %e, "peer handshake failed");
                format!("handshake with {addr}: {e}")
            })?;
            Ok(stream)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, dialing)
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
    }

    async fn connection(
        &self,
        target: u64,
        addr: &str,
        lane: Lane,
    ) -> Result<Arc<Connection>, TransportError> {
        let slot = self
            .connections
            .lock()
            .expect("transport lock")
            .entry((target, addr.to_string(), lane))
            .or_default()
            .clone();
        let dials_seen = slot.dials.load(Ordering::SeqCst);
        let mut dial = slot.dial.lock().await;
        if let Some(conn) = dial.conn.as_ref() {
            if !conn.closed.load(Ordering::SeqCst) {
                return Ok(conn.clone());
            }
        }
        if slot.dials.load(Ordering::SeqCst) != dials_seen {
            if let Some(why) = &dial.failed {
                return Err(TransportError::Unreachable(why.clone()));
            }
        }
        let dialed = self.dial(addr).await;
        slot.dials.fetch_add(1, Ordering::SeqCst);
        match dialed {
            Ok(stream) => {
                let conn = Arc::new(start_connection(stream));
                dial.conn = Some(conn.clone());
                dial.failed = None;
                Ok(conn)
            }
            Err(why) => {
                dial.failed = Some(why.clone());
                Err(TransportError::Unreachable(why))
            }
        }
    }
}

fn start_connection(stream: Box<dyn Stream>) -> Connection {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE_MAX);
    let pending: Pending = Arc::new(Mutex::new(BTreeMap::new()));
    let closed = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let writer_closed = closed.clone();
    let write_task = tokio::spawn(async move {
        pump_frames(&mut rx, &mut writer).await;
        writer_closed.store(true, Ordering::SeqCst);
    });
    let reader_pending = pending.clone();
    let reader_closed = closed.clone();
    let reader_received = received.clone();
    let read_task = tokio::spawn(async move {
        while let Ok(Some((id, response))) = read_frame::<_, PeerResponse>(&mut reader).await {
            reader_received.fetch_add(1, Ordering::SeqCst);
            let waiter = reader_pending.lock().expect("pending lock").remove(&id);
            if let Some(waiter) = waiter {
                let _ = waiter.send(response);
            }
        }
        reader_closed.store(true, Ordering::SeqCst);
        // Dropping the senders fails every call still waiting.
        reader_pending.lock().expect("pending lock").clear();
    });
    Connection {
        tx,
        pending,
        next_id: AtomicU64::new(1),
        closed,
        received,
        unanswered_bytes: AtomicU64::new(0),
        tasks: vec![write_task, read_task],
    }
}

impl Transport for TcpTransport {
    fn call(
        &self,
        target: u64,
        addr: String,
        request: PeerRequest,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<PeerResponse, TransportError>> {
        let this = self.clone();
        Box::pin(async move {
            if orbit_core::buggify!() {
                // A spurious failure before anything is sent: always legal.
                return Err(TransportError::Unreachable(
                    "buggify: spurious failure".into(),
                ));
            }
            if orbit_core::buggify!() {
                let delay_ms = orbit_core::fault::random_below(300);
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            let conn = this.connection(target, &addr, lane(&request)).await?;
            let id = conn.next_id.fetch_add(1, Ordering::SeqCst);
            let frame =
                encode(id, &request).map_err(|e| TransportError::Unreachable(e.to_string()))?;
            let frame_bytes = u64::try_from(frame.len()).unwrap_or(u64::MAX);
            let _unanswered = Unanswered::add(&conn, frame_bytes);
            let ahead = conn.unanswered_bytes.load(Ordering::SeqCst);
            let timeout = timeout.saturating_add(Duration::from_nanos(
                ahead.saturating_mul(TIMEOUT_NS_PER_BYTE),
            ));
            let (done_tx, done_rx) = oneshot::channel();
            let received_before = conn.received.load(Ordering::SeqCst);
            conn.pending
                .lock()
                .expect("pending lock")
                .insert(id, done_tx);
            if conn.tx.send(frame).await.is_err() {
                conn.pending.lock().expect("pending lock").remove(&id);
                conn.closed.store(true, Ordering::SeqCst);
                return Err(TransportError::Unreachable(format!(
                    "connection to {addr} is closed"
                )));
            }
            match tokio::time::timeout(timeout, done_rx).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(_)) => Err(TransportError::Closed(format!(
                    "connection to {addr} broke"
                ))),
                Err(_) => {
                    conn.pending.lock().expect("pending lock").remove(&id);
                    if conn.received.load(Ordering::SeqCst) == received_before {
                        tracing::debug!(target, %addr, "peer connection went silent; reconnecting");
                        conn.abandon();
                    }
                    Err(TransportError::Timeout(timeout))
                }
            }
        })
    }
}

/// A call's bytes counted in its connection's unanswered bytes while the
/// call waits (whatever way it ends).
struct Unanswered {
    conn: Arc<Connection>,
    bytes: u64,
}

impl Unanswered {
    fn add(conn: &Arc<Connection>, bytes: u64) -> Unanswered {
        conn.unanswered_bytes.fetch_add(bytes, Ordering::SeqCst);
        Unanswered {
            conn: conn.clone(),
            bytes,
        }
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        self.conn
            .unanswered_bytes
            .fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// Writes queued frames until the queue closes or a write fails; frames
/// already queued go out together, then one flush (a simulated socket sends
/// on flush, a real one at once).
async fn pump_frames<W: tokio::io::AsyncWrite + Unpin>(
    rx: &mut mpsc::Receiver<Vec<u8>>,
    writer: &mut W,
) {
    while let Some(frame) = rx.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        while let Ok(more) = rx.try_recv() {
            if writer.write_all(&more).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
}

/// Accepts peer connections until `shutdown` turns true. A connection is
/// served only once the dialer has proved the cluster secret (`auth`).
pub async fn serve(
    mut listener: Box<dyn Listener>,
    handler: Arc<dyn PeerHandler>,
    auth: PeerAuth,
    mut shutdown: watch::Receiver<bool>,
) {
    let refusals = Arc::new(RefusalLog::default());
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((mut stream, peer)) => {
                let (handler, auth, refusals) = (handler.clone(), auth.clone(), refusals.clone());
                tokio::spawn(async move {
                    match auth.accept(&mut stream).await {
                        Ok(node_id) => {
                            tracing::debug!(%peer, node_id, "peer connected");
                            serve_connection(stream, handler).await;
                        }
                        Err(why) => refusals.refused(&peer, &why),
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(stream: Box<dyn Stream>, handler: Arc<dyn PeerHandler>) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE_MAX);
    let write_task = tokio::spawn(async move { pump_frames(&mut rx, &mut writer).await });
    let mut appends: BTreeMap<ShardId, Arc<Mutex<AppendSink>>> = BTreeMap::new();
    loop {
        match read_frame::<_, PeerRequest>(&mut reader).await {
            Ok(Some((id, PeerRequest::StreamAppend { shard, rpc }))) => {
                // In the read loop, not a task: the order on the wire is the
                // order into Raft.
                queue_append(&*handler, &mut appends, &tx, shard, id, rpc);
            }
            Ok(Some((id, request))) => {
                let handler = handler.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let response = handler.handle(request).await;
                    send_response(&tx, id, &response).await;
                });
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "bad frame from a peer; closing the connection");
                break;
            }
        }
    }
    drop(appends);
    drop(tx);
    let _ = write_task.await;
}

async fn send_response(tx: &mpsc::Sender<Vec<u8>>, id: u64, response: &PeerResponse) {
    if orbit_core::buggify!() {
        // The response is lost on the way back: the caller times out
        // without knowing the outcome.
        return;
    }
    match encode(id, response) {
        Ok(frame) => {
            let _ = tx.send(frame).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a peer response"),
    }
}

/// One connection's pipelined appends into one shard: the call ids waiting
/// for a result, oldest first.
struct AppendSink {
    input: mpsc::Sender<AppendEntriesRequest<TypeConfig>>,
    ids: VecDeque<u64>,
    /// The result stream ended (after an error): a new request starts a
    /// new stream.
    ended: bool,
}

fn stream_ended(why: &str) -> PeerResponse {
    PeerResponse::StreamAppend(Err(why.to_string()))
}

/// Queues one pipelined append, starting the shard's stream if it has none
/// (or its last one ended).
fn queue_append(
    handler: &dyn PeerHandler,
    appends: &mut BTreeMap<ShardId, Arc<Mutex<AppendSink>>>,
    tx: &mpsc::Sender<Vec<u8>>,
    shard: ShardId,
    id: u64,
    rpc: AppendEntriesRequest<TypeConfig>,
) {
    let live = appends
        .get(&shard)
        .filter(|sink| !sink.lock().expect("append sink lock").ended)
        .cloned();
    let sink = match live {
        Some(sink) => sink,
        None => {
            let (input, input_rx) = mpsc::channel(APPEND_QUEUE_MAX);
            let Some(results) = handler.stream_append(shard, input_rx) else {
                reply_now(tx, id, PeerResponse::NoSuchShard(shard));
                return;
            };
            let sink = Arc::new(Mutex::new(AppendSink {
                input,
                ids: VecDeque::new(),
                ended: false,
            }));
            tokio::spawn(answer_appends(results, sink.clone(), tx.clone()));
            appends.insert(shard, sink.clone());
            sink
        }
    };
    let mut guard = sink.lock().expect("append sink lock");
    if guard.ended {
        drop(guard);
        reply_now(tx, id, stream_ended("the append stream ended; retry"));
        return;
    }
    match guard.input.try_send(rpc) {
        Ok(()) => guard.ids.push_back(id),
        Err(_) => {
            drop(guard);
            reply_now(tx, id, stream_ended("too many appends queued"));
        }
    }
}

/// Sends a response without waiting (from the read loop): a full write
/// queue drops it, and the caller times out.
fn reply_now(tx: &mpsc::Sender<Vec<u8>>, id: u64, response: PeerResponse) {
    match encode(id, &response) {
        Ok(frame) => {
            let _ = tx.try_send(frame);
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a peer response"),
    }
}

/// Sends each result of a pipelined append stream to its caller, in order;
/// once the stream ends, fails the calls it will not answer.
async fn answer_appends(
    mut results: AppendResults,
    sink: Arc<Mutex<AppendSink>>,
    tx: mpsc::Sender<Vec<u8>>,
) {
    while let Some(result) = results.next().await {
        let id = sink.lock().expect("append sink lock").ids.pop_front();
        let Some(id) = id else {
            tracing::error!("an append result without a waiting call");
            break;
        };
        send_response(&tx, id, &PeerResponse::StreamAppend(result)).await;
    }
    let orphans = {
        let mut guard = sink.lock().expect("append sink lock");
        guard.ended = true;
        std::mem::take(&mut guard.ids)
    };
    for id in orphans {
        send_response(&tx, id, &stream_ended("the append stream ended; retry")).await;
    }
}
