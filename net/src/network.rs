//! openraft's network traits over a [`Transport`].

use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
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

fn transport_error<E: std::error::Error>(e: TransportError) -> RPCError<u64, BasicNode, E> {
    match e {
        TransportError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&e)),
        TransportError::Timeout(_) | TransportError::Closed(_) => {
            RPCError::Network(NetworkError::new(&e))
        }
    }
}

impl PeerNetwork {
    async fn call<E: std::error::Error>(
        &self,
        request: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, RPCError<u64, BasicNode, E>> {
        self.transport
            .call(self.target, self.addr.clone(), request, option.hard_ttl())
            .await
            .map_err(transport_error)
    }

    fn unexpected<E: std::error::Error>(
        &self,
        response: &PeerResponse,
    ) -> RPCError<u64, BasicNode, E> {
        let what = format!("{response:?}").chars().take(200).collect();
        RPCError::Network(NetworkError::new(&UnexpectedResponse {
            target: self.target,
            what,
        }))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(
                PeerRequest::AppendEntries {
                    shard: self.shard,
                    rpc,
                },
                &option,
            )
            .await?
        {
            PeerResponse::AppendEntries(Ok(response)) => Ok(response),
            PeerResponse::AppendEntries(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .call(
                PeerRequest::InstallSnapshot {
                    shard: self.shard,
                    rpc,
                },
                &option,
            )
            .await?
        {
            PeerResponse::InstallSnapshot(Ok(response)) => Ok(response),
            PeerResponse::InstallSnapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(
                PeerRequest::Vote {
                    shard: self.shard,
                    rpc,
                },
                &option,
            )
            .await?
        {
            PeerResponse::Vote(Ok(response)) => Ok(response),
            PeerResponse::Vote(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }
}
