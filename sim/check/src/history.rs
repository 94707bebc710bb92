//! The history of a run: every client operation's invocation and completion,
//! as Jepsen records them. Checkers read it; nothing in it depends on wall
//! time or on hash order, so the same seed yields the same history.

/// A client's request, as the workload issued it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    /// SET key value (register workload; values are unique per key).
    Set { key: String, value: u64 },
    /// GET key.
    Get { key: String },
    /// INCR key (counter workload).
    Incr { key: String },
    /// SADD key member (set workload; members are unique per run).
    SAdd { key: String, member: u64 },
    /// SMEMBERS key.
    SMembers { key: String },
    /// RPUSH key value (list workload; values are unique per run).
    Append { key: String, value: u64 },
    /// LRANGE key 0 -1.
    ReadList { key: String },
    /// SREM key member. This call and the three below are not issued by the
    /// simulator's workloads; the set and queue models of
    /// `checker::linearizable` give them their meaning.
    SRem { key: String, member: u64 },
    /// SISMEMBER key member.
    SIsMember { key: String, member: u64 },
    /// RPUSH key value on a key used as a FIFO queue.
    Enqueue { key: String, value: u64 },
    /// LPOP key on a key used as a FIFO queue.
    Dequeue { key: String },
}

impl Call {
    pub fn key(&self) -> &str {
        match self {
            Call::Set { key, .. }
            | Call::Get { key }
            | Call::Incr { key }
            | Call::SAdd { key, .. }
            | Call::SMembers { key }
            | Call::Append { key, .. }
            | Call::ReadList { key }
            | Call::SRem { key, .. }
            | Call::SIsMember { key, .. }
            | Call::Enqueue { key, .. }
            | Call::Dequeue { key } => key,
        }
    }

    /// True for the list workload's calls, which the list checker owns.
    pub fn is_list(&self) -> bool {
        matches!(self, Call::Append { .. } | Call::ReadList { .. })
    }

    /// True for the set workload's calls, which the set checker owns.
    pub fn is_set(&self) -> bool {
        matches!(self, Call::SAdd { .. } | Call::SMembers { .. })
    }
}

/// What an operation returned when it succeeded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ret {
    /// SET's OK.
    Done,
    /// GET's value: `None` when the key does not exist.
    Value(Option<u64>),
    /// INCR's new value.
    Counter(i64),
    /// SADD's reply: 1 if the member was new.
    Added(i64),
    /// SMEMBERS' members, sorted.
    Members(Vec<u64>),
    /// RPUSH's new length (also an enqueue's).
    Length(i64),
    /// LRANGE's items, in list order.
    Items(Vec<u64>),
    /// SREM's reply: 1 if the member was there.
    Removed(i64),
    /// SISMEMBER's reply.
    IsMember(bool),
    /// LPOP's value on a queue: `None` when the queue was empty.
    Dequeued(Option<u64>),
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// It took effect and returned this.
    Ok(Ret),
    /// It certainly did not take effect.
    Fail,
    /// It may or may not have taken effect (timeout, lost connection, the
    /// client's node crashed). A checker must allow both.
    Unknown,
}

/// One operation: invoked at `invoked_at_ns` (simulated time), completed at
/// `completed_at_ns` with `outcome`; an Unknown outcome has no completion time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Unique, in invocation order.
    pub id: u64,
    /// The client that issued it; a client has one operation in flight at a time.
    pub client: u64,
    pub call: Call,
    pub invoked_at_ns: u64,
    pub completed_at_ns: Option<u64>,
    pub outcome: Outcome,
}

/// All operations of a run, ordered by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub operations: Vec<Operation>,
}

impl History {
    /// The operations on `key`, in id order.
    pub fn for_key<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Operation> + 'a {
        self.operations
            .iter()
            .filter(move |op| op.call.key() == key)
    }

    /// Every key touched, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .operations
            .iter()
            .map(|op| op.call.key().to_string())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}
