//! Sorted-set reads and pops against a model: a plain list of (score,
//! member) in Redis's order. The index is walked from either end and
//! seeks to score and lex bounds (see `each_selected`); every way in must
//! select what the model does, in the model's order, with LIMIT applied.

use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::entry::Entry;
use crate::redis::command::{LexBound, ScoreBound, ZAddFlags, ZRangeSpec};
use crate::store::MemStore;

const KEY: &[u8] = b"z";

/// Members in (score, member) order, as Redis's skiplist keeps them.
type Model = Vec<(f64, Vec<u8>)>;

struct Zset {
    store: MemStore,
    index: u64,
}

impl Zset {
    fn new(pairs: &[(f64, Vec<u8>)]) -> (Zset, Model) {
        let mut zset = Zset {
            store: MemStore::default(),
            index: 0,
        };
        zset.write(Command::ZAdd {
            key: KEY.to_vec(),
            flags: ZAddFlags::default(),
            pairs: pairs.to_vec(),
        });
        let mut model = pairs.to_vec();
        model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        (zset, model)
    }

    fn write(&mut self, cmd: Command) -> Output {
        self.index += 1;
        let ctx = ApplyCtx {
            index: self.index,
            term: 1,
        };
        let mut outputs = apply(&ctx, &Entry::redis(1_000, 0, cmd), &mut self.store)
            .expect("MemStore never fails");
        super::tests::check_invariants(&self.store);
        normal(outputs.remove(0))
    }

    fn read(&self, cmd: &Command) -> Output {
        normal(read(1_000, 0, cmd, &self.store).expect("MemStore never fails"))
    }

    fn everything(&self) -> Output {
        self.read(&Command::ZRange {
            key: KEY.to_vec(),
            spec: ZRangeSpec::Rank { start: 0, stop: -1 },
            rev: false,
            limit: None,
            withscores: true,
        })
    }
}

/// An empty reply as an empty array: a missing key replies that, an empty
/// selection from a present one empty pairs, the same bytes on the wire.
fn normal(output: Output) -> Output {
    match output {
        Output::Pairs(pairs) if pairs.is_empty() => Output::Array(Vec::new()),
        other => other,
    }
}

fn scored(members: &[(f64, Vec<u8>)]) -> Output {
    if members.is_empty() {
        return Output::Array(Vec::new());
    }
    Output::Pairs(
        members
            .iter()
            .map(|(score, member)| (Output::Bytes(member.clone()), Output::Double(*score)))
            .collect(),
    )
}

fn index_of(len: usize, i: i64) -> i64 {
    if i < 0 {
        len as i64 + i
    } else {
        i
    }
}

/// Redis's rank range over `model` (reversed first when `rev`).
fn model_ranks(model: &Model, start: i64, stop: i64, rev: bool) -> Model {
    let mut ordered = model.clone();
    if rev {
        ordered.reverse();
    }
    let len = ordered.len();
    let start = index_of(len, start).max(0);
    let stop = index_of(len, stop).min(len as i64 - 1);
    if start > stop || start >= len as i64 {
        return Vec::new();
    }
    ordered[start as usize..=stop as usize].to_vec()
}

fn in_score(score: f64, min: ScoreBound, max: ScoreBound) -> bool {
    let above = match min {
        ScoreBound::Inclusive(m) => score >= m,
        ScoreBound::Exclusive(m) => score > m,
    };
    let below = match max {
        ScoreBound::Inclusive(m) => score <= m,
        ScoreBound::Exclusive(m) => score < m,
    };
    above && below
}

fn in_lex(member: &[u8], min: &LexBound, max: &LexBound) -> bool {
    let above = match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(m) => member >= m.as_slice(),
        LexBound::Exclusive(m) => member > m.as_slice(),
    };
    let below = match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(m) => member <= m.as_slice(),
        LexBound::Exclusive(m) => member < m.as_slice(),
    };
    above && below
}

/// Selected members in reply order, then LIMIT: a negative offset
/// selects nothing, a negative count all the rest.
fn model_limit(mut selected: Model, rev: bool, limit: Option<(i64, i64)>) -> Model {
    if rev {
        selected.reverse();
    }
    match limit {
        None => selected,
        Some((offset, _)) if offset < 0 => Vec::new(),
        Some((offset, count)) => selected
            .into_iter()
            .skip(offset as usize)
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .collect(),
    }
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(select(vec![b'a', b'b', b'c', b'd']), 1..4)
}

fn score() -> impl Strategy<Value = f64> {
    select(vec![f64::NEG_INFINITY, -1.5, 0.0, 1.0, 2.5, f64::INFINITY])
}

/// A sorted set: distinct members; sometimes every score 0, as lex ranges
/// need. Big enough for several rank buckets (four members at most each
/// in unit tests).
fn members() -> impl Strategy<Value = Vec<(f64, Vec<u8>)>> {
    (
        proptest::collection::btree_map(member(), score(), 0..24),
        any::<bool>(),
    )
        .prop_map(|(map, flat)| {
            map.into_iter()
                .map(|(member, score)| (if flat { 0.0 } else { score }, member))
                .collect()
        })
}

fn score_bound() -> impl Strategy<Value = ScoreBound> {
    (score(), any::<bool>()).prop_map(|(score, inclusive)| {
        if inclusive {
            ScoreBound::Inclusive(score)
        } else {
            ScoreBound::Exclusive(score)
        }
    })
}

fn lex_bound() -> impl Strategy<Value = LexBound> {
    prop_oneof![
        Just(LexBound::Min),
        Just(LexBound::Max),
        member().prop_map(LexBound::Inclusive),
        member().prop_map(LexBound::Exclusive),
    ]
}

fn limit() -> impl Strategy<Value = Option<(i64, i64)>> {
    proptest::option::of((-1i64..6, -1i64..6))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rank_ranges_and_ranks_agree_with_the_model(
        pairs in members(),
        start in -16i64..16,
        stop in -16i64..16,
        rev: bool,
    ) {
        // Goal: a rank range walked from either end of the set selects
        // Redis's members in Redis's order; ZRANK and ZREVRANK count from
        // their own end.
        let (zset, model) = Zset::new(&pairs);
        let got = zset.read(&Command::ZRange {
            key: KEY.to_vec(),
            spec: ZRangeSpec::Rank { start, stop },
            rev,
            limit: None,
            withscores: true,
        });
        prop_assert_eq!(got, scored(&model_ranks(&model, start, stop, rev)));
        for (rank, (_, member)) in model.iter().enumerate() {
            for rev in [false, true] {
                let expected = if rev { model.len() - 1 - rank } else { rank };
                prop_assert_eq!(
                    zset.read(&Command::ZRank { key: KEY.to_vec(), member: member.clone(), rev }),
                    Output::Int(expected as i64)
                );
            }
        }
        prop_assert_eq!(
            zset.read(&Command::ZRank { key: KEY.to_vec(), member: b"zz".to_vec(), rev }),
            Output::Nil
        );
    }

    #[test]
    fn score_and_lex_ranges_agree_with_the_model(
        pairs in members(),
        (min, max) in (score_bound(), score_bound()),
        (lex_min, lex_max) in (lex_bound(), lex_bound()),
        rev: bool,
        limit in limit(),
    ) {
        // Goal: score ranges (seeking to the bound from below, or from
        // above when reversed) and lex ranges on a set of equal scores
        // select what the model does, LIMIT included; ZCOUNT and
        // ZLEXCOUNT count the same members.
        let (zset, model) = Zset::new(&pairs);
        let by_score: Model = model.iter().filter(|(s, _)| in_score(*s, min, max)).cloned().collect();
        let spec = ZRangeSpec::Score { min, max };
        prop_assert_eq!(
            zset.read(&Command::ZRange { key: KEY.to_vec(), spec: spec.clone(), rev, limit, withscores: true }),
            scored(&model_limit(by_score.clone(), rev, limit))
        );
        prop_assert_eq!(
            zset.read(&Command::ZCount { key: KEY.to_vec(), spec }),
            Output::Int(by_score.len() as i64)
        );
        if model.iter().all(|(score, _)| *score == 0.0) {
            let by_lex: Model = model
                .iter()
                .filter(|(_, m)| in_lex(m, &lex_min, &lex_max))
                .cloned()
                .collect();
            let spec = ZRangeSpec::Lex { min: lex_min, max: lex_max };
            prop_assert_eq!(
                zset.read(&Command::ZRange { key: KEY.to_vec(), spec: spec.clone(), rev, limit, withscores: true }),
                scored(&model_limit(by_lex.clone(), rev, limit))
            );
            prop_assert_eq!(
                zset.read(&Command::ZCount { key: KEY.to_vec(), spec }),
                Output::Int(by_lex.len() as i64)
            );
        }
    }

    #[test]
    fn pops_and_removals_agree_with_the_model(
        pairs in members(),
        max: bool,
        count in proptest::option::of(0u64..6),
        (start, stop) in (-16i64..16, -16i64..16),
        (min, max_score) in (score_bound(), score_bound()),
    ) {
        // Goal: ZPOPMIN/ZPOPMAX take from their end, lowest (highest)
        // first; ZREMRANGEBYRANK and ZREMRANGEBYSCORE remove what the model
        // selects; what is left is the model's.
        let (mut zset, mut model) = Zset::new(&pairs);
        let wanted = (count.unwrap_or(1) as usize).min(model.len());
        let popped: Model = if max {
            model.split_off(model.len() - wanted).into_iter().rev().collect()
        } else {
            model.drain(..wanted).collect()
        };
        let expected = match count {
            Some(_) => scored(&popped),
            None => Output::Array(
                popped
                    .iter()
                    .flat_map(|(score, member)| [Output::Bytes(member.clone()), Output::Double(*score)])
                    .collect(),
            ),
        };
        prop_assert_eq!(zset.write(Command::ZPop { key: KEY.to_vec(), max, count }), expected);
        prop_assert_eq!(zset.everything(), scored(&model));

        let doomed = model_ranks(&model, start, stop, false);
        model.retain(|pair| !doomed.contains(pair));
        prop_assert_eq!(
            zset.write(Command::ZRemRange { key: KEY.to_vec(), spec: ZRangeSpec::Rank { start, stop } }),
            Output::Int(doomed.len() as i64)
        );
        prop_assert_eq!(zset.everything(), scored(&model));

        let before = model.len();
        model.retain(|(score, _)| !in_score(*score, min, max_score));
        prop_assert_eq!(
            zset.write(Command::ZRemRange { key: KEY.to_vec(), spec: ZRangeSpec::Score { min, max: max_score } }),
            Output::Int((before - model.len()) as i64)
        );
        prop_assert_eq!(zset.everything(), scored(&model));
    }

    #[test]
    fn ranks_hold_through_adds_score_changes_and_removals(
        steps in proptest::collection::vec((member(), proptest::option::of(score())), 1..80),
    ) {
        // Goal: rank buckets split and merge as members come, move and go
        // (the invariant check after every write verifies their counts),
        // and every rank and rank range stays the model's.
        let (mut zset, mut model) = Zset::new(&[]);
        for (member, score) in steps {
            model.retain(|(_, m)| *m != member);
            match score {
                Some(score) => {
                    zset.write(Command::ZAdd {
                        key: KEY.to_vec(),
                        flags: ZAddFlags::default(),
                        pairs: vec![(score, member.clone())],
                    });
                    model.push((score, member));
                    model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                }
                None => {
                    zset.write(Command::ZRem { key: KEY.to_vec(), members: vec![member] });
                }
            }
        }
        prop_assert_eq!(zset.everything(), scored(&model));
        for (rank, (_, member)) in model.iter().enumerate() {
            for rev in [false, true] {
                let expected = if rev { model.len() - 1 - rank } else { rank };
                prop_assert_eq!(
                    zset.read(&Command::ZRank { key: KEY.to_vec(), member: member.clone(), rev }),
                    Output::Int(expected as i64)
                );
            }
        }
        let len = model.len() as i64;
        for start in -len..len {
            for rev in [false, true] {
                prop_assert_eq!(
                    zset.read(&Command::ZRange {
                        key: KEY.to_vec(),
                        spec: ZRangeSpec::Rank { start, stop: start + 2 },
                        rev,
                        limit: None,
                        withscores: true,
                    }),
                    scored(&model_ranks(&model, start, start + 2, rev))
                );
            }
        }
    }
}

#[test]
fn copies_and_renames_carry_the_rank_buckets() {
    // Goal: COPY (to this db and another) and RENAME move a sorted set's
    // rank buckets with its members, so ranks on the new key are right (the
    // invariant check runs after every write).
    let pairs: Vec<(f64, Vec<u8>)> = (0..23u8).map(|i| (f64::from(i), vec![b'm', i])).collect();
    let (mut zset, model) = Zset::new(&pairs);
    let rank_of = |zset: &Zset, db: u8, key: &[u8], member: &[u8]| {
        normal(
            read(
                1_000,
                db,
                &Command::ZRank {
                    key: key.to_vec(),
                    member: member.to_vec(),
                    rev: true,
                },
                &zset.store,
            )
            .expect("MemStore never fails"),
        )
    };
    for (db, destination) in [(None, &b"copy"[..]), (Some(3), b"elsewhere")] {
        assert_eq!(
            zset.write(Command::Copy {
                source: KEY.to_vec(),
                destination: destination.to_vec(),
                db,
                replace: false,
            }),
            Output::Int(1)
        );
        let db = db.unwrap_or(0);
        for (rank, (_, member)) in model.iter().enumerate() {
            assert_eq!(
                rank_of(&zset, db, destination, member),
                Output::Int((model.len() - 1 - rank) as i64)
            );
        }
    }
    assert_eq!(
        zset.write(Command::Rename {
            source: b"copy".to_vec(),
            target: b"renamed".to_vec(),
            only_if_absent: false,
        }),
        Output::Ok
    );
    assert_eq!(rank_of(&zset, 0, b"renamed", &[b'm', 22]), Output::Int(0));
    assert_eq!(rank_of(&zset, 0, b"renamed", &[b'm', 0]), Output::Int(22));
    assert_eq!(rank_of(&zset, 0, b"copy", &[b'm', 0]), Output::Nil);
}
