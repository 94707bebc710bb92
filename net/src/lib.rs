//! orbit-net: the node runtime.
//!
//! One openraft group per shard (this version: one data shard), the peer
//! transport that carries Raft RPCs and forwarded client commands, and the
//! router that executes a client's command linearizably wherever the leader
//! is. Time enters through [`clock::Clock`] and peers through
//! [`transport::Transport`], the seams the simulator replaces.

pub mod clock;
pub mod env;
pub mod membership;
pub mod netio;
pub mod network;
pub mod node;
pub mod peer_auth;
pub mod transport;
pub mod wire;

pub use clock::{Clock, SystemClock};
pub use env::{FsStorage, NodeEnv, OpenError, OsRandom, Random, ShardFiles, ShardStorage};
pub use netio::{Net, TokioNet};
pub use node::shard_map::{RouteError, ShardMap};
pub use node::{ExecError, Node, NodeConfig, ShardStatus, StartError};
/// The watch channel the node hands out (applied index, shutdown): wakes in
/// the order waits began, draws no random numbers.
pub use orbit_storage::watch;
/// The change log's reader, for the protocol layers (`Node::change_feed`).
pub mod changes {
    pub use orbit_storage::changes::{EntryChanges, FeedError, FeedPage, PageLimit, Retention};
    pub use orbit_storage::feed::ChangeFeed;
}
pub use transport::{TcpTransport, Transport};
