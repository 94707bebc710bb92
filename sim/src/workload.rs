//! The workload: what the simulated clients issue, how a call becomes a
//! command and its reply an outcome, and the TTL traffic beside the checked
//! keys. Every choice draws from madsim's seeded rng.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::Rng;
use orbit_core::redis::command::{ExpireCondition, Expiry, SetCondition, SetExpiry};
use orbit_core::redis::{Command, Output};
use orbit_core::{Op, Reply, ShardId};
use orbit_net::{ExecError, Node};

use crate::history::{Call, Outcome, Ret};
use crate::params::Params;
use crate::runner::World;

/// A client gives up on an operation after this long (outcome unknown).
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A client retries a call that certainly failed this many times.
const CLIENT_RETRIES_MAX: u32 = 2;
/// The nodes' entry-size-max here, small so that oversized writes are cheap.
pub(crate) const ENTRY_BYTES_MAX: usize = 64 * 1024;
/// One register SET in this many is oversized: its value, padded with
/// leading zeros past [`ENTRY_BYTES_MAX`], must be refused before it is
/// proposed (and, as a failed write, never be read).
const OVERSIZED_ONE_IN: u32 = 40;

pub(crate) fn register_key(i: u64) -> String {
    format!("r{i}")
}

pub(crate) fn counter_key(i: u64) -> String {
    format!("c{i}")
}

/// Issues operations one at a time until the workload phase ends. A call
/// that certainly failed is retried (as a new operation) up to
/// [`CLIENT_RETRIES_MAX`] times before the client moves on.
pub(crate) async fn client_loop(world: Arc<World>, node: Node, client: u64) {
    let mut sequence = 0u64;
    let mut retry: Option<(Call, u32)> = None;
    while world.workload_on.load(Ordering::SeqCst) {
        let (call, attempt) = match retry.take() {
            Some((call, attempt)) => (call, attempt),
            None => (next_call(&world.params, client, &mut sequence), 0),
        };
        let oversized = matches!(call, Call::Set { .. })
            && madsim::rand::thread_rng().gen_ratio(1, OVERSIZED_ONE_IN);
        let id = world.invoke(client, call.clone());
        let outcome = execute(&node, &call, oversized).await;
        let failed = outcome == Outcome::Fail;
        if oversized && matches!(outcome, Outcome::Ok(_)) {
            let what = format!("operation #{id} {call:?} answered {outcome:?}");
            world
                .oversized_accepted
                .lock()
                .expect("oversized")
                .push(what);
        }
        world.complete(id, outcome);
        if failed && attempt < CLIENT_RETRIES_MAX && !oversized {
            retry = Some((call, attempt + 1));
        }
        let pause = madsim::rand::thread_rng().gen_range(0..30);
        madsim::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// The set workload's key (checked by `checker::set`).
pub(crate) const SET_KEY: &str = "s0";
/// The list workload's key (checked by `checker::list`).
pub(crate) const LIST_KEY: &str = "l0";

/// A random call of the workload mix; SET values and SADD members are
/// unique.
fn next_call(params: &Params, client: u64, sequence: &mut u64) -> Call {
    let mut rng = madsim::rand::thread_rng();
    let keys = params.register_keys + params.counter_keys;
    let pick = rng.gen_range(0..keys + 2);
    if pick == keys + 1 {
        let key = LIST_KEY.to_string();
        if rng.gen_bool(0.7) {
            *sequence += 1;
            Call::Append {
                key,
                value: (client + 1) * 1_000_000 + *sequence,
            }
        } else {
            Call::ReadList { key }
        }
    } else if pick == keys {
        let key = SET_KEY.to_string();
        if rng.gen_bool(0.7) {
            *sequence += 1;
            Call::SAdd {
                key,
                member: (client + 1) * 1_000_000 + *sequence,
            }
        } else {
            Call::SMembers { key }
        }
    } else if pick < params.register_keys {
        let key = register_key(pick);
        if rng.gen_bool(0.5) {
            *sequence += 1;
            Call::Set {
                key,
                value: (client + 1) * 1_000_000 + *sequence,
            }
        } else {
            Call::Get { key }
        }
    } else {
        let key = counter_key(pick - params.register_keys);
        if rng.gen_bool(0.6) {
            Call::Incr { key }
        } else {
            Call::Get { key }
        }
    }
}

/// The command of `call`; an `oversized` SET's value has leading zeros
/// past [`ENTRY_BYTES_MAX`] (it still reads as the same number).
fn command_for(call: &Call, oversized: bool) -> Command {
    match call {
        Call::Set { key, value } => Command::Set {
            key: key.as_bytes().to_vec(),
            value: if oversized {
                let digits = value.to_string();
                let mut padded = vec![b'0'; ENTRY_BYTES_MAX + 1024 - digits.len()];
                padded.extend_from_slice(digits.as_bytes());
                padded
            } else {
                value.to_string().into_bytes()
            },
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        },
        Call::Get { key } => Command::Get {
            key: key.as_bytes().to_vec(),
        },
        Call::Incr { key } => Command::IncrBy {
            key: key.as_bytes().to_vec(),
            delta: 1,
        },
        Call::SAdd { key, member } => Command::SAdd {
            key: key.as_bytes().to_vec(),
            members: vec![member.to_string().into_bytes()],
        },
        Call::SMembers { key } => Command::SMembers {
            key: key.as_bytes().to_vec(),
        },
        Call::Append { key, value } => Command::Push {
            key: key.as_bytes().to_vec(),
            values: vec![value.to_string().into_bytes()],
            left: false,
            only_if_exists: false,
        },
        Call::ReadList { key } => Command::LRange {
            key: key.as_bytes().to_vec(),
            start: 0,
            stop: -1,
        },
        // The workloads here issue none of the four below (the set and
        // queue models of `checker::linearizable` are for the Jepsen
        // harness); they map to their commands all the same.
        Call::SRem { key, member } => Command::SRem {
            key: key.as_bytes().to_vec(),
            members: vec![member.to_string().into_bytes()],
        },
        Call::SIsMember { key, member } => Command::SIsMember {
            key: key.as_bytes().to_vec(),
            member: member.to_string().into_bytes(),
        },
        Call::Enqueue { key, value } => Command::Push {
            key: key.as_bytes().to_vec(),
            values: vec![value.to_string().into_bytes()],
            left: false,
            only_if_exists: false,
        },
        Call::Dequeue { key } => Command::Pop {
            key: key.as_bytes().to_vec(),
            left: true,
            count: None,
        },
    }
}

/// Executes a call through the node's router and classifies the result.
pub(crate) async fn execute(node: &Node, call: &Call, oversized: bool) -> Outcome {
    let is_read = matches!(
        call,
        Call::Get { .. } | Call::SMembers { .. } | Call::ReadList { .. } | Call::SIsMember { .. }
    );
    let result = madsim::time::timeout(
        CLIENT_TIMEOUT,
        execute_redis(node, command_for(call, oversized)),
    )
    .await;
    let unknown = if is_read {
        Outcome::Fail
    } else {
        Outcome::Unknown
    };
    match result {
        Err(_) => unknown,
        Ok(Err(ExecError::Unknown(_))) => unknown,
        Ok(Err(ExecError::NoLeader | ExecError::Failed(_))) => Outcome::Fail,
        Ok(Ok(output)) => outcome_of(call, output),
    }
}

/// What a reply means for `call`; a reply of the wrong shape is a
/// failure.
fn outcome_of(call: &Call, output: Output) -> Outcome {
    match (call, output) {
        (Call::Set { .. }, Output::Ok) => Outcome::Ok(Ret::Done),
        (Call::Get { .. }, Output::Nil) => Outcome::Ok(Ret::Value(None)),
        (Call::Get { .. }, Output::Bytes(bytes)) => {
            match std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(value) => Outcome::Ok(Ret::Value(Some(value))),
                None => Outcome::Fail,
            }
        }
        (Call::Incr { .. }, Output::Int(n)) => Outcome::Ok(Ret::Counter(n)),
        (Call::SAdd { .. }, Output::Int(n)) => Outcome::Ok(Ret::Added(n)),
        (Call::Append { .. } | Call::Enqueue { .. }, Output::Int(n)) => Outcome::Ok(Ret::Length(n)),
        (Call::SRem { .. }, Output::Int(n)) => Outcome::Ok(Ret::Removed(n)),
        (Call::SIsMember { .. }, Output::Int(n)) => Outcome::Ok(Ret::IsMember(n == 1)),
        (Call::Dequeue { .. }, Output::Nil) => Outcome::Ok(Ret::Dequeued(None)),
        (Call::Dequeue { .. }, Output::Bytes(bytes)) => {
            match std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(value) => Outcome::Ok(Ret::Dequeued(Some(value))),
                None => Outcome::Fail,
            }
        }
        (Call::ReadList { .. }, Output::Array(items)) => {
            let values: Option<Vec<u64>> = items
                .into_iter()
                .map(|item| match item {
                    Output::Bytes(bytes) => std::str::from_utf8(&bytes).ok()?.parse().ok(),
                    _ => None,
                })
                .collect();
            values.map_or(Outcome::Fail, |values| Outcome::Ok(Ret::Items(values)))
        }
        (Call::SMembers { .. }, Output::Array(items)) => {
            let members: Option<Vec<u64>> = items
                .into_iter()
                .map(|item| match item {
                    Output::Bytes(bytes) => std::str::from_utf8(&bytes).ok()?.parse().ok(),
                    _ => None,
                })
                .collect();
            match members {
                Some(mut members) => {
                    members.sort_unstable();
                    Outcome::Ok(Ret::Members(members))
                }
                None => Outcome::Fail,
            }
        }
        _ => Outcome::Fail,
    }
}

/// SET PX / EXPIRE / GET traffic on keys outside the checked history: the
/// replicas must still agree on what expired when.
pub(crate) async fn ttl_loop(world: Arc<World>, node: Node) {
    while world.workload_on.load(Ordering::SeqCst) {
        let (key, which, ms) = {
            let mut rng = madsim::rand::thread_rng();
            (
                format!("t{}", rng.gen_range(0..3)),
                rng.gen_range(0..3),
                rng.gen_range(10..1500),
            )
        };
        let key = key.into_bytes();
        let cmd = match which {
            0 => Command::Set {
                key,
                value: b"x".to_vec(),
                condition: SetCondition::Always,
                expiry: SetExpiry::At(Expiry::RelativeMs(ms)),
                get: false,
            },
            1 => Command::Expire {
                key,
                expiry: Expiry::RelativeMs(ms),
                condition: ExpireCondition::Always,
            },
            _ => Command::Get { key },
        };
        let _ = madsim::time::timeout(CLIENT_TIMEOUT, execute_redis(&node, cmd)).await;
        madsim::time::sleep(Duration::from_millis(ms.unsigned_abs() / 4 + 5)).await;
    }
}

/// Runs a Redis command in db 0 through the node, as a session would.
pub(crate) async fn execute_redis(node: &Node, cmd: Command) -> Result<Output, ExecError> {
    node.execute(Op::redis(0, cmd)).await.map(Reply::into_redis)
}

/// The shard the simulated workloads and faults aim at: the home shard,
/// the only one while a cluster has one.
pub(crate) fn home_shard(node: &Node) -> ShardId {
    node.shard_ids()[0]
}
