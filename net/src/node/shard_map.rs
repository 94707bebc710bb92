//! Which shard holds what: the router's one source, a pure policy (no
//! I/O, no state beyond the map), tested on its own.
//!
//! Today a cluster has one shard, which holds every key; the many-shards
//! work replaces what the map holds (slots by CRC16 of the key, slot ranges
//! to shards, kept in the metadata group), not its callers: they ask the
//! map with the op, never name a shard.

use orbit_core::{Op, ShardId};

/// The shards of the cluster and which one holds a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMap {
    /// Every shard, in order; the first is the home shard.
    shards: Vec<ShardId>,
}

/// Why an op cannot go to one shard.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the op's keys live in different shards ({0} and {1})")]
    CrossShard(ShardId, ShardId),
}

impl ShardMap {
    /// A cluster whose one shard holds every key.
    pub fn single(shard: ShardId) -> ShardMap {
        ShardMap {
            shards: vec![shard],
        }
    }

    /// Every shard, home first.
    pub fn shards(&self) -> &[ShardId] {
        &self.shards
    }

    /// The shard that serves what belongs to no key: keyless ops (DBSIZE,
    /// PUBLISH, FLUSHALL, ...) and, until the metadata group exists, the
    /// cluster's membership.
    pub fn home(&self) -> ShardId {
        self.shards[0]
    }

    /// The shard holding `key`.
    pub fn shard_of_key(&self, _key: &[u8]) -> ShardId {
        assert_eq!(self.shards.len(), 1, "slot maps come with many shards");
        self.shards[0]
    }

    /// The shard an op runs on: the one holding all of its keys, or home
    /// for an op without keys.
    pub fn route(&self, op: &Op) -> Result<ShardId, RouteError> {
        let mut keys = op.keys().into_iter();
        let Some(first) = keys.next() else {
            return Ok(self.home());
        };
        let shard = self.shard_of_key(first);
        for key in keys {
            let other = self.shard_of_key(key);
            if other != shard {
                return Err(RouteError::CrossShard(shard, other));
            }
        }
        Ok(shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::redis::Command;

    #[test]
    fn one_shard_holds_every_op() {
        // Goal: with one shard, keyed ops, multi-key ops and keyless ops
        // all route to it, and home is it.
        let map = ShardMap::single(ShardId(7));
        let ops = [
            Op::redis(0, Command::Get { key: b"k".to_vec() }),
            Op::redis(
                3,
                Command::MGet {
                    keys: vec![b"a".to_vec(), b"b".to_vec()],
                },
            ),
            Op::redis(0, Command::DbSize),
        ];
        for op in &ops {
            assert_eq!(map.route(op), Ok(ShardId(7)), "{op:?}");
        }
        assert_eq!(map.home(), ShardId(7));
        assert_eq!(map.shards(), &[ShardId(7)]);
    }
}
