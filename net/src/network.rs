//! openraft's network traits over a [`Transport`].

use std::sync::Arc;

use std::future::Future;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetworkV2};
use orbit_core::raft::types::{Snapshot, Vote};
use orbit_core::raft::SnapshotData;
use orbit_core::{ShardId, TypeConfig};

use crate::transport::{Transport, TransportError};
use crate::wire::{PeerRequest, PeerResponse};

/// Creates one [`PeerNetwork`] per replication target of one shard.
pub struct NetworkFactory {
    pub transport: Arc<dyn Transport>,
    pub shard: ShardId,
}

pub struct PeerNetwork {
    transport: Arc<dyn Transport>,
    shard: ShardId,
    target: u64,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerNetwork {
        PeerNetwork {
            transport: self.transport.clone(),
            shard: self.shard,
            target,
            addr: node.addr.clone(),
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
        self.transport
            .call(self.target, self.addr.clone(), request, option.hard_ttl())
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

    /// Sends the whole snapshot in one call, unless replication to this
    /// peer closes first.
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let request = PeerRequest::Snapshot {
            shard: self.shard,
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        let response = tokio::select! {
            biased;
            closed = cancel => return Err(StreamingError::Closed(closed)),
            response = self.call(request, &option) => response,
        };
        let to_streaming = |e: RPCError<TypeConfig>| match e {
            RPCError::Timeout(e) => StreamingError::Timeout(e),
            RPCError::Unreachable(e) => StreamingError::Unreachable(e),
            RPCError::Network(e) => StreamingError::Network(e),
            RPCError::RemoteError(e) => StreamingError::Network(NetworkError::new(&e)),
        };
        match response.map_err(to_streaming)? {
            PeerResponse::Snapshot(Ok(response)) => Ok(response),
            PeerResponse::Snapshot(Err(why)) => Err(to_streaming(self.remote_failure(why))),
            other => Err(to_streaming(self.unexpected(&other))),
        }
    }
}
