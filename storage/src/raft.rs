//! The openraft type configuration: Orbit's log payload in, replies out,
//! and the async runtime openraft runs on (tokio in production, madsim's in
//! the simulator, `crate::runtime`).

use std::io::Cursor;

use orbit_core::machine::Reply;

openraft::declare_raft_types!(
    /// Orbit's Raft types: entries of ops from any command family in, one
    /// reply per op out. One leader per term (`leader_id_std`), as Raft's
    /// paper has it.
    pub TypeConfig:
        D = orbit_core::Entry,
        R = Vec<Reply>,
        NodeId = u64,
        Node = openraft::BasicNode,
        Term = u64,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
        AsyncRuntime = Runtime,
);

/// A snapshot's bytes, as the state machine builds and installs them.
pub type SnapshotData = Cursor<Vec<u8>>;

/// openraft's generic types, made concrete for [`TypeConfig`].
pub mod types {
    use super::{SnapshotData, TypeConfig};
    use openraft::alias;

    pub type LogId = alias::LogIdOf<TypeConfig>;
    pub type Vote = alias::VoteOf<TypeConfig>;
    pub type LeaderId = alias::LeaderIdOf<TypeConfig>;
    pub type CommittedLeaderId = alias::CommittedLeaderIdOf<TypeConfig>;
    pub type Entry = alias::EntryOf<TypeConfig>;
    pub type EntryPayload = alias::EntryPayloadOf<TypeConfig>;
    pub type Membership = openraft::Membership<u64, openraft::BasicNode>;
    pub type StoredMembership = alias::StoredMembershipOf<TypeConfig>;
    pub type SnapshotMeta = alias::SnapshotMetaOf<TypeConfig>;
    pub type Snapshot = alias::SnapshotOf<TypeConfig, SnapshotData>;
    pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;

    /// A log id: Orbit runs standard Raft (one leader per term), so a log id
    /// is a term and an index.
    pub fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term), index)
    }
}

/// The async runtime openraft runs on: tokio in production, madsim's
/// simulated runtime in the simulator.
#[cfg(not(madsim))]
pub type Runtime = openraft_rt_tokio::TokioRuntime;
#[cfg(madsim)]
pub type Runtime = crate::runtime::MadsimRuntime;
