//! The command table: names, arities and key positions as Redis 7 reports
//! them in COMMAND, used for arity errors and for COMMAND / COMMAND DOCS.

/// One command's static description.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    /// Redis arity: `n` exactly n arguments including the name; `-n` at least n.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub summary: &'static str,
}

const W: &[&str] = &["write", "denyoom"];
const WF: &[&str] = &["write"];
const R: &[&str] = &["readonly", "fast"];
const RS: &[&str] = &["readonly"];
const C: &[&str] = &["fast", "loading", "stale"];

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $first:expr, $last:expr, $step:expr, $group:literal, $summary:literal) => {
        Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            step: $step,
            group: $group,
            summary: $summary,
        }
    };
}

pub static COMMANDS: &[Spec] = &[
    spec!("acl", -2, C, 0, 0, 0, "server", "A container for Access List Control commands."),
    spec!("append", 3, W, 1, 1, 1, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    spec!("auth", -2, C, 0, 0, 0, "connection", "Authenticates the connection."),
    spec!("blmove", 6, W, 1, 2, 1, "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    spec!("blpop", -3, WF, 1, -2, 1, "list", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    spec!("brpop", -3, WF, 1, -2, 1, "list", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    spec!("brpoplpush", 4, W, 1, 2, 1, "list", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    spec!("client", -2, C, 0, 0, 0, "connection", "A container for client connection commands."),
    spec!("command", -1, C, 0, 0, 0, "server", "Returns detailed information about all commands."),
    spec!("config", -2, C, 0, 0, 0, "server", "A container for server configuration commands."),
    spec!("copy", -3, W, 1, 2, 1, "generic", "Copies the value of a key to a new key."),
    spec!("dbsize", 1, R, 0, 0, 0, "server", "Returns the number of keys in the database."),
    spec!("debug", -2, C, 0, 0, 0, "server", "A container for debugging commands."),
    spec!("decr", 2, W, 1, 1, 1, "string", "Decrements the integer value of a key by one."),
    spec!("decrby", 3, W, 1, 1, 1, "string", "Decrements a number from the integer value of a key."),
    spec!("del", -2, WF, 1, -1, 1, "generic", "Deletes one or more keys."),
    spec!("discard", 1, C, 0, 0, 0, "transactions", "Discards a transaction."),
    spec!("echo", 2, C, 0, 0, 0, "connection", "Returns the given string."),
    spec!("exec", 1, C, 0, 0, 0, "transactions", "Executes all commands in a transaction."),
    spec!("exists", -2, R, 1, -1, 1, "generic", "Determines whether one or more keys exist."),
    spec!("expire", -3, WF, 1, 1, 1, "generic", "Sets the expiration time of a key in seconds."),
    spec!("expireat", -3, WF, 1, 1, 1, "generic", "Sets the expiration time of a key to a Unix timestamp."),
    spec!("flushall", -1, WF, 0, 0, 0, "server", "Removes all keys from all databases."),
    spec!("flushdb", -1, WF, 0, 0, 0, "server", "Remove all keys from the current database."),
    spec!("get", 2, R, 1, 1, 1, "string", "Returns the string value of a key."),
    spec!("getdel", 2, WF, 1, 1, 1, "string", "Returns the string value of a key after deleting the key."),
    spec!("getex", -2, WF, 1, 1, 1, "string", "Returns the string value of a key after setting its expiration time."),
    spec!("getrange", 4, RS, 1, 1, 1, "string", "Returns a substring of the string stored at a key."),
    spec!("getset", 3, W, 1, 1, 1, "string", "Returns the previous string value of a key after setting it to a new value."),
    spec!("hdel", -3, WF, 1, 1, 1, "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."),
    spec!("hello", -1, C, 0, 0, 0, "connection", "Handshakes with the Redis server."),
    spec!("hexists", 3, R, 1, 1, 1, "hash", "Determines whether a field exists in a hash."),
    spec!("hget", 3, R, 1, 1, 1, "hash", "Returns the value of a field in a hash."),
    spec!("hgetall", 2, RS, 1, 1, 1, "hash", "Returns all fields and values in a hash."),
    spec!("hincrby", 4, W, 1, 1, 1, "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."),
    spec!("hincrbyfloat", 4, W, 1, 1, 1, "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."),
    spec!("hkeys", 2, RS, 1, 1, 1, "hash", "Returns all fields in a hash."),
    spec!("hlen", 2, R, 1, 1, 1, "hash", "Returns the number of fields in a hash."),
    spec!("hmget", -3, R, 1, 1, 1, "hash", "Returns the values of all fields in a hash."),
    spec!("hmset", -4, W, 1, 1, 1, "hash", "Sets the values of multiple fields."),
    spec!("hrandfield", -2, RS, 1, 1, 1, "hash", "Returns one or more random fields from a hash."),
    spec!("hscan", -3, RS, 1, 1, 1, "hash", "Iterates over fields and values of a hash."),
    spec!("hset", -4, W, 1, 1, 1, "hash", "Creates or modifies the value of a field in a hash."),
    spec!("hsetnx", 4, W, 1, 1, 1, "hash", "Sets the value of a field in a hash only when the field doesn't exist."),
    spec!("hstrlen", 3, R, 1, 1, 1, "hash", "Returns the length of the value of a field."),
    spec!("hvals", 2, RS, 1, 1, 1, "hash", "Returns all values in a hash."),
    spec!("incr", 2, W, 1, 1, 1, "string", "Increments the integer value of a key by one."),
    spec!("incrby", 3, W, 1, 1, 1, "string", "Increments the integer value of a key by a number."),
    spec!("incrbyfloat", 3, W, 1, 1, 1, "string", "Increment the floating point value of a key by a number."),
    spec!("info", -1, C, 0, 0, 0, "server", "Returns information and statistics about the server."),
    spec!("keys", 2, RS, 0, 0, 0, "generic", "Returns all key names that match a pattern."),
    spec!("lindex", 3, RS, 1, 1, 1, "list", "Returns an element from a list by its index."),
    spec!("linsert", 5, W, 1, 1, 1, "list", "Inserts an element before or after another element in a list."),
    spec!("llen", 2, R, 1, 1, 1, "list", "Returns the length of a list."),
    spec!("lmove", 5, W, 1, 2, 1, "list", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."),
    spec!("lpop", -2, WF, 1, 1, 1, "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    spec!("lpos", -3, RS, 1, 1, 1, "list", "Returns the index of matching elements in a list."),
    spec!("lpush", -3, W, 1, 1, 1, "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    spec!("lpushx", -3, W, 1, 1, 1, "list", "Prepends one or more elements to a list only when the list exists."),
    spec!("lrange", 4, RS, 1, 1, 1, "list", "Returns a range of elements from a list."),
    spec!("lrem", 4, WF, 1, 1, 1, "list", "Removes elements from a list. Deletes the list if the last element was removed."),
    spec!("lset", 4, W, 1, 1, 1, "list", "Sets the value of an element in a list by its index."),
    spec!("ltrim", 4, WF, 1, 1, 1, "list", "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    spec!("mget", -2, R, 1, -1, 1, "string", "Atomically returns the string values of one or more keys."),
    spec!("mset", -3, W, 1, -1, 2, "string", "Atomically creates or modifies the string values of one or more keys."),
    spec!("msetnx", -3, W, 1, -1, 2, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    spec!("multi", 1, C, 0, 0, 0, "transactions", "Starts a transaction."),
    spec!("object", -2, RS, 2, 2, 1, "generic", "A container for object introspection commands."),
    spec!("orbit", -2, C, 0, 0, 0, "server", "Orbit's cluster administration: ORBIT MEMBER REMOVE node-id removes a voter."),
    spec!("persist", 2, WF, 1, 1, 1, "generic", "Removes the expiration time of a key."),
    spec!("pexpire", -3, WF, 1, 1, 1, "generic", "Sets the expiration time of a key in milliseconds."),
    spec!("pexpireat", -3, WF, 1, 1, 1, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    spec!("ping", -1, C, 0, 0, 0, "connection", "Returns the server's liveliness response."),
    spec!("psetex", 4, W, 1, 1, 1, "string", "Sets both string value and expiration time in milliseconds of a key."),
    spec!("psubscribe", -2, C, 0, 0, 0, "pubsub", "Listens for messages published to channels that match one or more patterns."),
    spec!("pttl", 2, R, 1, 1, 1, "generic", "Returns the expiration time in milliseconds of a key."),
    spec!("publish", 3, C, 0, 0, 0, "pubsub", "Posts a message to a channel."),
    spec!("pubsub", -2, C, 0, 0, 0, "pubsub", "A container for Pub/Sub commands."),
    spec!("punsubscribe", -1, C, 0, 0, 0, "pubsub", "Stops listening to messages published to channels that match one or more patterns."),
    spec!("quit", -1, C, 0, 0, 0, "connection", "Closes the connection."),
    spec!("randomkey", 1, RS, 0, 0, 0, "generic", "Returns a random key name from the database."),
    spec!("rename", 3, WF, 1, 2, 1, "generic", "Renames a key and overwrites the destination."),
    spec!("renamenx", 3, W, 1, 2, 1, "generic", "Renames a key only when the target key name doesn't exist."),
    spec!("rpop", -2, WF, 1, 1, 1, "list", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    spec!("rpoplpush", 3, W, 1, 2, 1, "list", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."),
    spec!("rpush", -3, W, 1, 1, 1, "list", "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    spec!("rpushx", -3, W, 1, 1, 1, "list", "Appends an element to a list only when the list exists."),
    spec!("sadd", -3, W, 1, 1, 1, "set", "Adds one or more members to a set. Creates the key if it doesn't exist."),
    spec!("scan", -2, RS, 0, 0, 0, "generic", "Iterates over the key names in the database."),
    spec!("scard", 2, R, 1, 1, 1, "set", "Returns the number of members in a set."),
    spec!("sdiff", -2, RS, 1, -1, 1, "set", "Returns the difference of multiple sets."),
    spec!("sdiffstore", -3, W, 1, -1, 1, "set", "Stores the difference of multiple sets in a key."),
    spec!("select", 2, C, 0, 0, 0, "connection", "Changes the selected database."),
    spec!("set", -3, W, 1, 1, 1, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    spec!("setex", 4, W, 1, 1, 1, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    spec!("setnx", 3, W, 1, 1, 1, "string", "Set the string value of a key only when the key doesn't exist."),
    spec!("setrange", 4, W, 1, 1, 1, "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    spec!("sinter", -2, RS, 1, -1, 1, "set", "Returns the intersect of multiple sets."),
    spec!("sintercard", -3, RS, 2, -1, 1, "set", "Returns the number of members of the intersect of multiple sets."),
    spec!("sinterstore", -3, W, 1, -1, 1, "set", "Stores the intersect of multiple sets in a key."),
    spec!("sismember", 3, R, 1, 1, 1, "set", "Determines whether a member belongs to a set."),
    spec!("smembers", 2, RS, 1, 1, 1, "set", "Returns all members of a set."),
    spec!("smismember", -3, R, 1, 1, 1, "set", "Determines whether multiple members belong to a set."),
    spec!("smove", 4, WF, 1, 2, 1, "set", "Moves a member from one set to another."),
    spec!("spop", -2, WF, 1, 1, 1, "set", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    spec!("srandmember", -2, RS, 1, 1, 1, "set", "Get one or multiple random members from a set"),
    spec!("srem", -3, WF, 1, 1, 1, "set", "Removes one or more members from a set. Deletes the set if the last member was removed."),
    spec!("sscan", -3, RS, 1, 1, 1, "set", "Iterates over members of a set."),
    spec!("strlen", 2, R, 1, 1, 1, "string", "Returns the length of a string value."),
    spec!("subscribe", -2, C, 0, 0, 0, "pubsub", "Listens for messages published to channels."),
    spec!("sunion", -2, RS, 1, -1, 1, "set", "Returns the union of multiple sets."),
    spec!("sunionstore", -3, W, 1, -1, 1, "set", "Stores the union of multiple sets in a key."),
    spec!("time", 1, R, 0, 0, 0, "server", "Returns the server time."),
    spec!("touch", -2, R, 1, -1, 1, "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    spec!("ttl", 2, R, 1, 1, 1, "generic", "Returns the expiration time in seconds of a key."),
    spec!("type", 2, R, 1, 1, 1, "generic", "Determines the type of value stored at a key."),
    spec!("unlink", -2, WF, 1, -1, 1, "generic", "Asynchronously deletes one or more keys."),
    spec!("unsubscribe", -1, C, 0, 0, 0, "pubsub", "Stops listening to messages posted to channels."),
    spec!("unwatch", 1, C, 0, 0, 0, "transactions", "Forgets about watched keys of a transaction."),
    spec!("wait", 3, C, 0, 0, 0, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
    spec!("watch", -2, C, 1, -1, 1, "transactions", "Monitors changes to keys to determine the execution of a transaction."),
    spec!("zadd", -4, W, 1, 1, 1, "sorted_set", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    spec!("zcard", 2, R, 1, 1, 1, "sorted_set", "Returns the number of members in a sorted set."),
    spec!("zcount", 4, R, 1, 1, 1, "sorted_set", "Returns the count of members in a sorted set that have scores within a range."),
    spec!("zincrby", 4, W, 1, 1, 1, "sorted_set", "Increments the score of a member in a sorted set."),
    spec!("zinterstore", -4, W, 1, 1, 1, "sorted_set", "Stores the intersect of multiple sorted sets in a key."),
    spec!("zlexcount", 4, R, 1, 1, 1, "sorted_set", "Returns the number of members in a sorted set within a lexicographical range."),
    spec!("zmscore", -3, R, 1, 1, 1, "sorted_set", "Returns the score of one or more members in a sorted set."),
    spec!("zpopmax", -2, WF, 1, 1, 1, "sorted_set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    spec!("zpopmin", -2, WF, 1, 1, 1, "sorted_set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    spec!("zrange", -4, RS, 1, 1, 1, "sorted_set", "Returns members in a sorted set within a range of indexes."),
    spec!("zrangebylex", -4, RS, 1, 1, 1, "sorted_set", "Returns members in a sorted set within a lexicographical range."),
    spec!("zrangebyscore", -4, RS, 1, 1, 1, "sorted_set", "Returns members in a sorted set within a range of scores."),
    spec!("zrank", 3, R, 1, 1, 1, "sorted_set", "Returns the index of a member in a sorted set ordered by ascending scores."),
    spec!("zrem", -3, WF, 1, 1, 1, "sorted_set", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    spec!("zremrangebylex", 4, WF, 1, 1, 1, "sorted_set", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    spec!("zremrangebyrank", 4, WF, 1, 1, 1, "sorted_set", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    spec!("zremrangebyscore", 4, WF, 1, 1, 1, "sorted_set", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    spec!("zrevrange", -4, RS, 1, 1, 1, "sorted_set", "Returns members in a sorted set within a range of indexes in reverse order."),
    spec!("zrevrangebylex", -4, RS, 1, 1, 1, "sorted_set", "Returns members in a sorted set within a lexicographical range in reverse order."),
    spec!("zrevrangebyscore", -4, RS, 1, 1, 1, "sorted_set", "Returns members in a sorted set within a range of scores in reverse order."),
    spec!("zrevrank", 3, R, 1, 1, 1, "sorted_set", "Returns the index of a member in a sorted set ordered by descending scores."),
    spec!("zscan", -3, RS, 1, 1, 1, "sorted_set", "Iterates over members and scores of a sorted set."),
    spec!("zscore", 3, R, 1, 1, 1, "sorted_set", "Returns the score of a member in a sorted set."),
    spec!("zunionstore", -4, W, 1, 1, 1, "sorted_set", "Stores the union of multiple sorted sets in a key."),
];

/// Looks a command up by its lower-case name: a hash lookup, since every
/// request does one (a binary search over the table was 4% of a leader's
/// CPU under pipelined SETs, in its string compares).
pub fn find(name: &str) -> Option<&'static Spec> {
    static BY_NAME: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static Spec>> =
        std::sync::LazyLock::new(|| COMMANDS.iter().map(|spec| (spec.name, spec)).collect());
    BY_NAME.get(name).copied()
}

/// True if `argc` (including the name) satisfies the spec's arity.
pub fn arity_ok(spec: &Spec, argc: usize) -> bool {
    let argc = i64::try_from(argc).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        // Goal: binary search over the table finds every command.
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} must sort before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for spec in COMMANDS {
            assert_eq!(find(spec.name).map(|s| s.name), Some(spec.name));
        }
    }
}
