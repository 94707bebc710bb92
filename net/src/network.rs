//! openraft's network traits over a [`Transport`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesOrdered, Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, RaftNetworkV2};
use orbit_core::ShardId;
use orbit_storage::raft::types::{LogId, Snapshot, Vote};
use orbit_storage::raft::SnapshotData;
use orbit_storage::raft::TypeConfig;

use crate::transport::{Transport, TransportError};
use crate::wire::{PeerRequest, PeerResponse};

/// Appends sent to one follower and not yet answered, at most. With more
/// than one, the leader's next entries travel while the follower writes and
/// syncs the previous ones (its flusher then syncs them together).
const APPENDS_IN_FLIGHT: usize = 8;

/// Times one snapshot piece is sent again after its call failed in
/// transport (lost, timed out, connection broken) before the whole send
/// fails. Without them one failed call in a long transfer restarts it.
const PIECE_RETRIES: u32 = 3;

/// Creates one [`PeerNetwork`] per replication target of one shard.
pub struct NetworkFactory {
    pub transport: Arc<dyn Transport>,
    pub shard: ShardId,
    /// This node's id, which tells its snapshot transfers apart.
    pub node_id: u64,
    /// Snapshot bytes per piece sent.
    pub snapshot_chunk_bytes: usize,
    /// How long a snapshot piece before the last may go unanswered (the
    /// transport adds time for its bytes); the last piece, which installs
    /// the snapshot, has openraft's whole snapshot timeout.
    pub snapshot_piece_timeout: Duration,
    /// Snapshot transfers this shard has started, for their ids.
    pub transfers: Arc<AtomicU64>,
}

#[derive(Clone)]
pub struct PeerNetwork {
    transport: Arc<dyn Transport>,
    shard: ShardId,
    target: u64,
    addr: String,
    node_id: u64,
    snapshot_chunk_bytes: usize,
    snapshot_piece_timeout: Duration,
    transfers: Arc<AtomicU64>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerNetwork {
        PeerNetwork {
            transport: self.transport.clone(),
            shard: self.shard,
            target,
            addr: node.addr.clone(),
            node_id: self.node_id,
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            snapshot_piece_timeout: self.snapshot_piece_timeout,
            transfers: self.transfers.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unexpected response from node {target}: {what}")]
struct UnexpectedResponse {
    target: u64,
    what: String,
}

#[derive(Debug, thiserror::Error)]
#[error("node {target} failed the request: {why}")]
struct RemoteFailure {
    target: u64,
    why: String,
}

fn transport_error(e: TransportError) -> RPCError<TypeConfig> {
    match e {
        TransportError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&e)),
        TransportError::Timeout(_) | TransportError::Closed(_) => {
            RPCError::Network(NetworkError::new(&e))
        }
    }
}

impl PeerNetwork {
    async fn call(
        &self,
        request: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, RPCError<TypeConfig>> {
        self.call_within(request, option.hard_ttl()).await
    }

    async fn call_within(
        &self,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, RPCError<TypeConfig>> {
        self.transport
            .call(self.target, self.addr.clone(), request, timeout)
            .await
            .map_err(transport_error)
    }

    fn unexpected(&self, response: &PeerResponse) -> RPCError<TypeConfig> {
        let what = format!("{response:?}").chars().take(200).collect();
        RPCError::Network(NetworkError::new(&UnexpectedResponse {
            target: self.target,
            what,
        }))
    }

    /// The peer answered with an error of its own (its Raft stopped or is
    /// stopping): as good as unreachable, so openraft backs off.
    fn remote_failure(&self, why: impl std::fmt::Display) -> RPCError<TypeConfig> {
        RPCError::Unreachable(Unreachable::new(&RemoteFailure {
            target: self.target,
            why: why.to_string(),
        }))
    }

    async fn vote_call(
        &mut self,
        request: PeerRequest,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(request, &option).await? {
            PeerResponse::Vote(Ok(response)) => Ok(response),
            PeerResponse::Vote(Err(e)) => Err(self.remote_failure(e)),
            other => Err(self.unexpected(&other)),
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerNetwork {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::AppendEntries {
            shard: self.shard,
            rpc,
        };
        match self.call(request, &option).await? {
            PeerResponse::AppendEntries(Ok(response)) => Ok(response),
            PeerResponse::AppendEntries(Err(e)) => Err(self.remote_failure(e)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Pipelined: up to `APPENDS_IN_FLIGHT` appends travel at once, in order
    /// on one connection; the follower's transport feeds them to its Raft in
    /// that order (`Raft::stream_append`) and answers in that order.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        let pipelined = Pipelined {
            input: Some(input),
            calls: FuturesOrdered::new(),
            network: self.clone(),
            option,
            done: false,
        };
        let stream: BoxStream<'s, _> = Box::pin(pipelined);
        Box::pin(async move { Ok(stream) })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::Vote {
            shard: self.shard,
            rpc,
        };
        self.vote_call(request, option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::PreVote {
            shard: self.shard,
            rpc,
        };
        self.vote_call(request, option).await
    }

    /// Sends the snapshot in pieces of `snapshot_chunk_bytes`, one call
    /// each, in order (so no frame limit bounds a snapshot and every piece
    /// gets the RPC's whole timeout), unless replication to this peer
    /// closes first. A piece before the last waits at most
    /// `snapshot_piece_timeout` for its answer (a lost answer costs that, not
    /// the whole snapshot timeout; seed 1065 took 15 to 24 s per 4 KB
    /// transfer in 256-byte pieces with one answer in four lost). A piece
    /// whose call fails in transport is sent again,
    /// up to `PIECE_RETRIES` times (the receiver takes a repeat of its last
    /// piece once); any other failure fails the whole send, and openraft
    /// sends the snapshot again from the start.
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let to_streaming = |e: RPCError<TypeConfig>| match e {
            RPCError::Timeout(e) => StreamingError::Timeout(e),
            RPCError::Unreachable(e) => StreamingError::Unreachable(e),
            RPCError::Network(e) => StreamingError::Network(e),
            RPCError::RemoteError(e) => StreamingError::Network(NetworkError::new(&e)),
        };
        let data = snapshot.snapshot.into_inner();
        let transfer =
            (self.node_id << 32) | (self.transfers.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF);
        let chunk = self.snapshot_chunk_bytes.max(1);
        let mut cancel = std::pin::pin!(cancel);
        let mut offset = 0;
        let mut retries = 0;
        loop {
            let end = data.len().min(offset + chunk);
            let last = end == data.len();
            let request = PeerRequest::SnapshotChunk {
                shard: self.shard,
                vote,
                meta: snapshot.meta.clone(),
                transfer,
                offset: offset as u64,
                last,
                data: data[offset..end].to_vec(),
            };
            let timeout = if last {
                option.hard_ttl()
            } else {
                option.hard_ttl().min(self.snapshot_piece_timeout)
            };
            let response = tokio::select! {
                biased;
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                response = self.call_within(request, timeout) => response,
            };
            let response = match response {
                Err(_) if retries < PIECE_RETRIES => {
                    retries += 1;
                    continue;
                }
                response => response.map_err(to_streaming)?,
            };
            match response {
                PeerResponse::SnapshotChunk(Ok(Some(response))) if last => return Ok(response),
                PeerResponse::SnapshotChunk(Ok(None)) if !last => {
                    offset = end;
                    retries = 0;
                }
                PeerResponse::SnapshotChunk(Err(why)) => {
                    return Err(to_streaming(self.remote_failure(why)))
                }
                other => return Err(to_streaming(self.unexpected(&other))),
            }
        }
    }
}

/// One call of a pipelined append stream: the last log id it carries (what
/// a full success matches) and the peer's answer.
type AppendCall = BoxFuture<'static, (Option<LogId>, Result<PeerResponse, RPCError<TypeConfig>>)>;

/// `PeerNetwork::stream_append`'s stream: sends requests as they come, up to
/// `APPENDS_IN_FLIGHT` unanswered, and yields their results in order; ends
/// after the first error, conflict or partial success, as openraft expects.
struct Pipelined<S> {
    input: Option<S>,
    calls: FuturesOrdered<AppendCall>,
    network: PeerNetwork,
    option: RPCOption,
    done: bool,
}

/// Bytes of entries one append carries, at most, past its first entry: a
/// larger batch is cut there (see `cut_to_fit`).
const APPEND_BYTES_MAX: usize = 64 << 20;

/// Cuts `rpc`'s entries to [`APPEND_BYTES_MAX`], keeping at least one, so
/// that a batch of large entries never makes a frame too large to send;
/// true when it cut. The follower then matches less than openraft sent,
/// a partial success, after which openraft sends the rest anew.
fn cut_to_fit(rpc: &mut AppendEntriesRequest<TypeConfig>) -> bool {
    if rpc.entries.len() < 2 {
        return false;
    }
    let mut bytes = 0usize;
    let mut keep = 0;
    for entry in &rpc.entries {
        let size = usize::try_from(bincode::serialized_size(entry).unwrap_or(u64::MAX))
            .unwrap_or(usize::MAX);
        if keep > 0 && bytes.saturating_add(size) > APPEND_BYTES_MAX {
            break;
        }
        bytes = bytes.saturating_add(size);
        keep += 1;
    }
    let cut = keep < rpc.entries.len();
    rpc.entries.truncate(keep);
    assert!(!rpc.entries.is_empty(), "an append keeps its first entry");
    cut
}

impl<S> Pipelined<S> {
    /// Sends `rpc`; a cut one (see `cut_to_fit`) is the stream's last.
    fn start(&mut self, mut rpc: AppendEntriesRequest<TypeConfig>) -> AppendCall {
        if cut_to_fit(&mut rpc) {
            self.input = None;
        }
        let last = rpc.entries.last().map(|e| e.log_id).or(rpc.prev_log_id);
        let network = self.network.clone();
        let option = self.option.clone();
        Box::pin(async move {
            let request = PeerRequest::StreamAppend {
                shard: network.shard,
                rpc,
            };
            (last, network.call(request, &option).await)
        })
    }

    fn result(
        &mut self,
        last: Option<LogId>,
        answer: Result<PeerResponse, RPCError<TypeConfig>>,
    ) -> Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>> {
        let outcome = match answer {
            Err(e) => Err(e),
            Ok(PeerResponse::StreamAppend(Ok(result))) => Ok(result),
            Ok(PeerResponse::StreamAppend(Err(why))) => Err(self.network.remote_failure(why)),
            Ok(other) => Err(self.network.unexpected(&other)),
        };
        // Anything but a full success ends the stream: openraft restarts
        // replication from what the follower reported.
        self.done = !matches!(&outcome, Ok(Ok(matched)) if *matched == last);
        outcome
    }
}

impl<S> Stream for Pipelined<S>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
{
    type Item = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // Send what is ready, in order, while the window has room.
        while this.calls.len() < APPENDS_IN_FLIGHT {
            let Some(input) = this.input.as_mut() else {
                break;
            };
            match input.poll_next_unpin(cx) {
                Poll::Ready(Some(rpc)) => {
                    let call = this.start(rpc);
                    this.calls.push_back(call);
                }
                Poll::Ready(None) => this.input = None,
                Poll::Pending => break,
            }
        }
        match this.calls.poll_next_unpin(cx) {
            Poll::Ready(Some((last, answer))) => Poll::Ready(Some(this.result(last, answer))),
            Poll::Ready(None) if this.input.is_none() => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}
