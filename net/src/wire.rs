//! Messages between nodes and their framing on a byte stream.
//!
//! Frame: `[len u32 LE][crc32 u32 LE][body; len]` where the crc32 covers the
//! length bytes and the body, and the body is bincode of `(call id, message)`.
//! A frame over [`FRAME_LEN_MAX`] or with a bad checksum closes the
//! connection: the peer reconnects and openraft retries.

use openraft::error::RaftError;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest,
    VoteResponse,
};
use orbit_core::{Op, Reply, ShardId};
use orbit_storage::raft::types::{SnapshotMeta, Vote};
use orbit_storage::raft::TypeConfig;
use serde::{Deserialize, Serialize};

/// The largest frame accepted (snapshot pieces and entry batches stay below).
pub const FRAME_LEN_MAX: u32 = 640 * 1024 * 1024;
pub const FRAME_HEADER_LEN: usize = 8;

#[derive(Serialize, Deserialize, Debug)]
pub enum PeerRequest {
    AppendEntries {
        shard: ShardId,
        rpc: AppendEntriesRequest<TypeConfig>,
    },
    /// One append of a pipelined stream: a connection's stream appends
    /// for a shard reach its Raft in the order they arrive, and are answered
    /// in that order (`PeerResponse::StreamAppend`).
    StreamAppend {
        shard: ShardId,
        rpc: AppendEntriesRequest<TypeConfig>,
    },
    Vote {
        shard: ShardId,
        rpc: VoteRequest<TypeConfig>,
    },
    /// Pre-Vote: would the receiver vote for this candidate (no state
    /// changes)? Keeps a node that was cut off from disrupting the leader
    /// with a higher term when it comes back.
    PreVote {
        shard: ShardId,
        rpc: VoteRequest<TypeConfig>,
    },
    /// One piece of a snapshot sent in pieces, in order, each answered
    /// before the next goes: `data` belongs at `offset` of transfer
    /// `transfer`; the `last` piece completes it and the receiver installs
    /// the whole snapshot. A piece that does not follow the receiver's
    /// transfer is refused, and openraft sends the snapshot again.
    SnapshotChunk {
        shard: ShardId,
        vote: Vote,
        meta: SnapshotMeta,
        transfer: u64,
        offset: u64,
        last: bool,
        data: Vec<u8>,
    },
    /// Client writes forwarded to the leader, which stamps and proposes
    /// them (in order, in one entry or consecutive ones).
    Write { shard: ShardId, ops: Vec<Op> },
    /// Linearizable reads forwarded to the leader, answered in order after
    /// one leadership check.
    Read { shard: ShardId, ops: Vec<Op> },
    /// Add a node to the cluster (as a voter) through the leader.
    Join { node_id: u64, addr: String },
    /// WAIT through the leader: how many followers hold its log up to its
    /// end, waiting up to `timeout_ms` for `wanted` of them.
    Replicas {
        shard: ShardId,
        wanted: u64,
        timeout_ms: u64,
    },
    /// Remove a voter, through the leader (`Node::remove_member`).
    RemoveMember { node_id: u64 },
}

/// Why a forwarded command did not produce an output.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    /// The receiver is not the leader either (the leader moved): not proposed.
    #[error("not the leader; leader is {0:?}")]
    NotLeader(Option<u64>),
    /// Proposed, but the outcome is unknown (leader lost, timeout).
    #[error("outcome unknown: {0}")]
    Unknown(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Serialize, Deserialize, Debug)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<TypeConfig>, RaftError<TypeConfig>>),
    /// A stream append's result, or why the stream could not take it.
    StreamAppend(Result<StreamAppendResult<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>>),
    /// A snapshot piece was taken (None), or the last one was and the
    /// snapshot installed (the receiver's vote), or why not.
    SnapshotChunk(Result<Option<SnapshotResponse<TypeConfig>>, String>),
    /// One output per forwarded op.
    Outputs(Result<Vec<Reply>, ForwardError>),
    Joined(Result<(), crate::membership::MembershipError>),
    Replicas(Result<u64, ForwardError>),
    /// The request named a shard this node does not host.
    NoSuchShard(ShardId),
    Removed(Result<(), crate::membership::MembershipError>),
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("frame length {0} out of range")]
    BadLength(u32),
    #[error("frame checksum mismatch")]
    Checksum,
    #[error("frame body does not decode: {0}")]
    Decode(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

fn crc(len: u32, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

/// Encodes `(id, message)` as one frame.
pub fn encode<T: Serialize>(id: u64, message: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![0u8; FRAME_HEADER_LEN];
    bincode::serialize_into(&mut out, &(id, message))
        .map_err(|e| WireError::Decode(e.to_string()))?;
    let len =
        u32::try_from(out.len() - FRAME_HEADER_LEN).map_err(|_| WireError::BadLength(u32::MAX))?;
    if len > FRAME_LEN_MAX {
        return Err(WireError::BadLength(len));
    }
    let sum = crc(len, &out[FRAME_HEADER_LEN..]);
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..8].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Reads one frame from `reader`; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R, T>(reader: &mut R) -> Result<Option<(u64, T)>, WireError>
where
    R: tokio::io::AsyncRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; FRAME_HEADER_LEN];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let sum = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > FRAME_LEN_MAX {
        return Err(WireError::BadLength(len));
    }
    let mut body = vec![0u8; len as usize];
    reader.read_exact(&mut body).await?;
    if crc(len, &body) != sum {
        return Err(WireError::Checksum);
    }
    let decoded = bincode::deserialize(&body).map_err(|e| WireError::Decode(e.to_string()))?;
    Ok(Some(decoded))
}
