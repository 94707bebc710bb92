//! Sorted-set reads and ZADD on a large set, through `orbit_core`'s apply
//! and read paths over the in-memory `MemStore`: what a leaderboard asks.
//!
//! The score index is walked from a bound or from the bucket that holds a
//! rank, so the top ten (ZREVRANGE 0 9, ZRANGE -10 -1, ZREVRANGEBYSCORE
//! +inf -inf LIMIT 0 10) cost what the bottom ten (ZRANGE 0 9) cost, and
//! ZRANK of any member costs the rank buckets on its side (at most 1,024
//! members each) plus a walk inside its own, whatever the set's size.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use orbit_core::redis::apply::{apply, read};
use orbit_core::redis::command::{ScoreBound, ZAddFlags, ZRangeSpec};
use orbit_core::redis::{Command, Output};
use orbit_core::{ApplyCtx, Entry, MemStore};

const MEMBERS: usize = 100_000;
const KEY: &[u8] = b"leaderboard";
const TS_MS: u64 = 1_700_000_000_000;

fn member(n: usize) -> Vec<u8> {
    format!("player:{n:08}").into_bytes()
}

/// A sorted set of `MEMBERS` members, member n scored n.
fn leaderboard() -> MemStore {
    let mut store = MemStore::default();
    let pairs: Vec<(f64, Vec<u8>)> = (0..MEMBERS).map(|n| (n as f64, member(n))).collect();
    let cmd = Command::ZAdd {
        key: KEY.to_vec(),
        flags: ZAddFlags::default(),
        pairs,
    };
    let ctx = ApplyCtx { index: 1, term: 1 };
    apply(&ctx, &Entry::redis(TS_MS, 0, cmd), &mut store).expect("MemStore cannot fail");
    store
}

fn range(spec: ZRangeSpec, rev: bool, limit: Option<(i64, i64)>) -> Command {
    Command::ZRange {
        key: KEY.to_vec(),
        spec,
        rev,
        limit,
        withscores: true,
    }
}

fn bench_zset(c: &mut Criterion) {
    let store = leaderboard();
    let mut group = c.benchmark_group("zset_100k");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let everything = ZRangeSpec::Score {
        min: ScoreBound::Inclusive(f64::NEG_INFINITY),
        max: ScoreBound::Inclusive(f64::INFINITY),
    };
    let cases = [
        (
            "zrange_0_9",
            range(ZRangeSpec::Rank { start: 0, stop: 9 }, false, None),
        ),
        (
            "zrevrange_0_9",
            range(ZRangeSpec::Rank { start: 0, stop: 9 }, true, None),
        ),
        (
            "zrange_-10_-1",
            range(
                ZRangeSpec::Rank {
                    start: -10,
                    stop: -1,
                },
                false,
                None,
            ),
        ),
        (
            "zrevrangebyscore_limit_10",
            range(everything, true, Some((0, 10))),
        ),
        (
            "zrevrank_top",
            Command::ZRank {
                key: KEY.to_vec(),
                member: member(MEMBERS - 1),
                rev: true,
            },
        ),
        (
            "zrank_middle",
            Command::ZRank {
                key: KEY.to_vec(),
                member: member(MEMBERS / 2),
                rev: false,
            },
        ),
    ];
    for (name, cmd) in &cases {
        let output = read(TS_MS, 0, cmd, &store).expect("MemStore cannot fail");
        assert!(
            !matches!(output, Output::Error(_) | Output::Nil),
            "{name}: {output:?}"
        );
        group.bench_function(*name, |b| {
            b.iter(|| black_box(read(TS_MS, 0, cmd, &store).expect("MemStore cannot fail")))
        });
    }
    // ZADD of a new member into the big set: the write side's cost, rank
    // bucket upkeep included.
    let mut store = leaderboard();
    let mut index = 1u64;
    group.bench_function("zadd_new_member", |b| {
        b.iter(|| {
            index += 1;
            let n = MEMBERS + index as usize;
            let cmd = Command::ZAdd {
                key: KEY.to_vec(),
                flags: ZAddFlags::default(),
                pairs: vec![(((n * 7919) % MEMBERS) as f64, member(n))],
            };
            let ctx = ApplyCtx { index, term: 1 };
            black_box(
                apply(&ctx, &Entry::redis(TS_MS, 0, cmd), &mut store)
                    .expect("MemStore cannot fail"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_zset);
criterion_main!(benches);
