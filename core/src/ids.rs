//! Identities and positions shared by every layer.

use serde::{Deserialize, Serialize};

/// A node of the cluster. openraft requires a plain integer here.
pub type NodeId = u64;

/// A shard: one Raft group and one state machine. Every path carries one, even
/// while a cluster runs a single data shard.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ShardId(pub u32);

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard-{}", self.0)
    }
}

/// Number of logical databases (Redis `SELECT 0..15`).
pub const DB_COUNT: u8 = 16;
