//! Sorted sets: a record of kind `ZSet` holding the member count, and two
//! elements per member: `keys::SUB_ZMEMBER` + member → score (f64 bits,
//! little-endian), and `keys::SUB_ZSCORE` + sortable score + member → empty,
//! the index that orders members by (score, member) as Redis's skiplist
//! does. The index is cut into rank buckets (`keys::SUB_ZBUCKET` +
//! boundary → count of the index entries from the boundary to the next
//! bucket's), so a rank costs the bucket records on one side plus at most
//! one bucket's entries, instead of every member before it. Replies and
//! errors follow Redis 7. An empty sorted set is deleted. Scores are never
//! NaN; -0 is stored as 0.

use super::scan::{scan_elements, scan_reply};
use super::{int_output, Shard, View};
use crate::redis::command::{Aggregate, Key, LexBound, ScoreBound, ZAddFlags, ZRangeSpec};
use crate::redis::keys::{self, Kind, Record};
use crate::redis::output::{errors, Output};
use crate::store::{Store, StoreError};

/// Index entries per rank bucket, at most: a bucket that grows past it
/// splits in two. Tiny in unit tests, so that they split and merge.
pub const BUCKET_MAX: u64 = if cfg!(test) { 4 } else { 1024 };
/// A bucket that shrinks below this merges into a neighbour with room.
pub const BUCKET_MIN: u64 = if cfg!(test) { 2 } else { 256 };

/// The sortable 8 bytes of a score: byte order equals numeric order.
pub fn score_bytes(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

fn score_from_bytes(bytes: &[u8]) -> Result<f64, StoreError> {
    let bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError(format!("sorted set entry of {} bytes", bytes.len())))?;
    let ordered = u64::from_be_bytes(bytes);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    Ok(f64::from_bits(bits))
}

/// The index suffix just past every member with `score`: the next
/// sortable score. None past +inf's, where nothing sorts.
fn score_after(score: f64) -> Option<[u8; 8]> {
    u64::from_be_bytes(score_bytes(score))
        .checked_add(1)
        .map(u64::to_be_bytes)
}

/// Decodes one score index entry (sortable score, then member) for a
/// walk's `visit`; a malformed one stops the walk with `failure`.
fn index_entry(
    rest: &[u8],
    failure: &mut Option<StoreError>,
    visit: &mut dyn FnMut(Vec<u8>, f64) -> bool,
) -> bool {
    match score_from_bytes(rest) {
        Ok(score) => visit(rest[8..].to_vec(), score),
        Err(e) => {
            *failure = Some(e);
            false
        }
    }
}

fn above_min(score: f64, min: ScoreBound) -> bool {
    match min {
        ScoreBound::Inclusive(m) => score >= m,
        ScoreBound::Exclusive(m) => score > m,
    }
}

fn below_max(score: f64, max: ScoreBound) -> bool {
    match max {
        ScoreBound::Inclusive(m) => score <= m,
        ScoreBound::Exclusive(m) => score < m,
    }
}

fn lex_above_min(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(m) => member >= m.as_slice(),
        LexBound::Exclusive(m) => member > m.as_slice(),
    }
}

fn lex_below_max(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(m) => member <= m.as_slice(),
        LexBound::Exclusive(m) => member < m.as_slice(),
    }
}

/// What a key holds, for sorted-set commands.
enum Found {
    Absent,
    ZSet(Record),
    WrongType,
}

/// A member and its score.
type Scored = (Vec<u8>, f64);

impl<S: Store> View<'_, S> {
    fn find_zset(&self, key: &[u8]) -> Result<Found, StoreError> {
        Ok(match self.live(key)? {
            None => Found::Absent,
            Some(record) if record.kind == Kind::ZSet => Found::ZSet(record),
            Some(_) => Found::WrongType,
        })
    }

    fn score_of(&self, key: &[u8], member: &[u8]) -> Result<Option<f64>, StoreError> {
        self.store
            .get(&keys::element_key(self.db, key, keys::SUB_ZMEMBER, member))?
            .map(|bytes| {
                let bits: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError(format!("score of {} bytes", bytes.len())))?;
                Ok(f64::from_bits(u64::from_le_bytes(bits)))
            })
            .transpose()
    }

    /// Members in ascending (score, member) order from the index entry at
    /// or after `start` (the index suffix: sortable score, then member),
    /// until `visit` returns false.
    fn walk(
        &self,
        key: &[u8],
        start: &[u8],
        visit: &mut dyn FnMut(Vec<u8>, f64) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_ZSCORE, &[]);
        let mut from = prefix.clone();
        from.extend_from_slice(start);
        let mut failure = None;
        self.store.scan_from(&prefix, &from, &mut |encoded, _| {
            index_entry(&encoded[prefix.len()..], &mut failure, visit)
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// Members in descending (score, member) order from the last index
    /// entry before `below` (an index suffix; None: from the top), until
    /// `visit` returns false.
    fn walk_rev(
        &self,
        key: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(Vec<u8>, f64) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_ZSCORE, &[]);
        let below = below.map(|suffix| [&prefix[..], suffix].concat());
        let mut failure = None;
        self.store
            .scan_rev(&prefix, below.as_deref(), &mut |encoded, _| {
                index_entry(&encoded[prefix.len()..], &mut failure, visit)
            })?;
        failure.map_or(Ok(()), Err)
    }

    /// Counts the index entries from `start` (an index suffix) up to, not
    /// including, `end` (None: to the last).
    fn entries_between(
        &self,
        key: &[u8],
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<u64, StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_ZSCORE, &[]);
        let from = [&prefix[..], start].concat();
        let mut count = 0u64;
        self.store.scan_from(&prefix, &from, &mut |encoded, _| {
            let before_end = end.is_none_or(|end| &encoded[prefix.len()..] < end);
            count += u64::from(before_end);
            before_end
        })?;
        Ok(count)
    }

    /// The rank bucket holding index suffix `entry`: the last bucket whose
    /// boundary is at or before it, as (boundary, count). None when there
    /// is none.
    fn bucket_of(&self, key: &[u8], entry: &[u8]) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_ZBUCKET, &[]);
        let below = [&prefix[..], entry, &[0]].concat();
        self.bucket_next(&prefix, Some(&below), true)
    }

    /// The first bucket record after `from` (an encoded bucket key; None:
    /// from the start), or with `rev` the last one before it.
    fn bucket_next(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        rev: bool,
    ) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        let mut found = None;
        let mut first = |encoded: &[u8], value: &[u8]| {
            found = Some((encoded[prefix.len()..].to_vec(), keys::decode_count(value)));
            false
        };
        if rev {
            self.store.scan_rev(prefix, from, &mut first)?;
        } else {
            let start = from.map_or_else(|| prefix.to_vec(), |key| [key, &[0]].concat());
            self.store.scan_from(prefix, &start, &mut first)?;
        }
        found
            .map(|(boundary, count)| Ok((boundary, count?)))
            .transpose()
    }

    /// Visits the rank buckets in order (descending when `rev`) as
    /// (boundary, count) until `visit` returns false.
    fn each_bucket(
        &self,
        key: &[u8],
        rev: bool,
        visit: &mut dyn FnMut(&[u8], u64) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_ZBUCKET, &[]);
        let mut failure = None;
        let mut step = |encoded: &[u8], value: &[u8]| match keys::decode_count(value) {
            Ok(count) => visit(&encoded[prefix.len()..], count),
            Err(e) => {
                failure = Some(e);
                false
            }
        };
        if rev {
            self.store.scan_rev(&prefix, None, &mut step)?;
        } else {
            self.store.scan(&prefix, &mut step)?;
        }
        failure.map_or(Ok(()), Err)
    }

    /// The bucket holding ascending rank `rank` of a set of `count`, as
    /// (boundary, rank of its first entry); bucket counts are summed from
    /// the nearer end.
    fn seek_rank(&self, key: &[u8], rank: u64, count: u64) -> Result<(Vec<u8>, u64), StoreError> {
        let mut found = None;
        let mut passed = 0u64;
        let from_top = rank >= count / 2;
        self.each_bucket(key, from_top, &mut |boundary, members| {
            passed += members;
            let start = if from_top {
                count.checked_sub(passed)
            } else {
                Some(passed - members)
            };
            let holds = match start {
                Some(start) => start <= rank && rank < start + members,
                None => true,
            };
            if holds {
                found = Some((boundary.to_vec(), start));
            }
            !holds
        })?;
        match found {
            Some((boundary, Some(start))) => Ok((boundary, start)),
            _ => Err(StoreError(format!(
                "sorted set rank buckets do not hold rank {rank} of {count}"
            ))),
        }
    }

    /// Visits `take` members after passing `skip`, walking the index
    /// ascending from index suffix `from.1`, or descending from the top when
    /// `from.0`; in walk order, or turned round when `turn`.
    fn walk_ranks(
        &self,
        key: &[u8],
        from: (bool, &[u8]),
        skip: u64,
        take: u64,
        turn: bool,
        visit: &mut dyn FnMut(Vec<u8>, f64) -> bool,
    ) -> Result<(), StoreError> {
        let mut taken = Vec::new();
        {
            let mut passed = 0u64;
            let mut step = |member, score| {
                passed += 1;
                if passed <= skip {
                    return true;
                }
                if turn {
                    taken.push((member, score));
                } else if !visit(member, score) {
                    return false;
                }
                passed < skip + take
            };
            match from {
                (true, _) => self.walk_rev(key, None, &mut step)?,
                (false, start) => self.walk(key, start, &mut step)?,
            }
        }
        for (member, score) in taken.into_iter().rev() {
            if !visit(member, score) {
                break;
            }
        }
        Ok(())
    }

    /// The score of the lowest member (of the highest when `top`).
    fn end_score(&self, key: &[u8], top: bool) -> Result<Option<f64>, StoreError> {
        let mut found = None;
        let mut first = |_, score| {
            found = Some(score);
            false
        };
        if top {
            self.walk_rev(key, None, &mut first)?;
        } else {
            self.walk(key, &[], &mut first)?;
        }
        Ok(found)
    }

    fn all_scored(&self, key: &[u8]) -> Result<Vec<Scored>, StoreError> {
        let mut out = Vec::new();
        self.walk(key, &[], &mut |member, score| {
            out.push((member, score));
            true
        })?;
        Ok(out)
    }

    /// Visits the members `spec` selects, in ascending (score, member)
    /// order, or descending when `rev` (ranks then count from the top),
    /// until `visit` returns false. It walks the index from the nearer end
    /// and seeks to a score or lex bound, so the cost is the members it
    /// passes, not the set's size: a rank range from the closer end of the
    /// set, a score or lex range from its bound.
    fn each_selected(
        &self,
        key: &[u8],
        count: u64,
        spec: &ZRangeSpec,
        rev: bool,
        visit: &mut dyn FnMut(Vec<u8>, f64) -> bool,
    ) -> Result<(), StoreError> {
        match spec {
            ZRangeSpec::Rank { start, stop } => {
                let Some((first, last)) = super::index_range(count, *start, *stop) else {
                    return Ok(());
                };
                let take = last - first + 1;
                // Near the end it starts from, walk from that end.
                if last < BUCKET_MAX {
                    return self.walk_ranks(key, (rev, &[]), first, take, false, visit);
                }
                // Near the other end, walk from there and turn them round.
                if count - first <= BUCKET_MAX {
                    return self.walk_ranks(key, (!rev, &[]), count - 1 - last, take, true, visit);
                }
                // Ranks count from the top when reversed; walk the
                // ascending ranks from the bucket that holds the first.
                let low = if rev { count - 1 - last } else { first };
                let (boundary, start) = self.seek_rank(key, low, count)?;
                self.walk_ranks(key, (false, &boundary), low - start, take, rev, visit)
            }
            ZRangeSpec::Score { min, max } if rev => {
                let top = match max {
                    ScoreBound::Inclusive(m) | ScoreBound::Exclusive(m) => *m,
                };
                let below = (!top.is_nan()).then(|| score_after(top)).flatten();
                self.walk_rev(key, below.as_ref().map(|b| &b[..]), &mut |member, score| {
                    if !above_min(score, *min) {
                        return false;
                    }
                    !below_max(score, *max) || visit(member, score)
                })
            }
            ZRangeSpec::Score { min, max } => {
                let from = match min {
                    ScoreBound::Inclusive(m) | ScoreBound::Exclusive(m) => *m,
                };
                let start = if from.is_nan() || from == f64::NEG_INFINITY {
                    Vec::new()
                } else {
                    score_bytes(from).to_vec()
                };
                self.walk(key, &start, &mut |member, score| {
                    if !below_max(score, *max) {
                        return false;
                    }
                    !above_min(score, *min) || visit(member, score)
                })
            }
            // Nothing sorts above `+` or below `-`.
            ZRangeSpec::Lex {
                min: LexBound::Max, ..
            }
            | ZRangeSpec::Lex {
                max: LexBound::Min, ..
            } => Ok(()),
            // Lex ranges assume every score is equal, as Redis does: seek
            // to the bound within the end member's score.
            ZRangeSpec::Lex { min, max } if rev => {
                let below = match (max, self.end_score(key, true)?) {
                    (LexBound::Inclusive(m), Some(score)) => {
                        Some([&score_bytes(score)[..], m, &[0]].concat())
                    }
                    (LexBound::Exclusive(m), Some(score)) => {
                        Some([&score_bytes(score)[..], m].concat())
                    }
                    _ => None,
                };
                self.walk_rev(key, below.as_deref(), &mut |member, score| {
                    if !lex_above_min(&member, min) {
                        return false;
                    }
                    !lex_below_max(&member, max) || visit(member, score)
                })
            }
            ZRangeSpec::Lex { min, max } => {
                let start = match (min, self.end_score(key, false)?) {
                    (LexBound::Inclusive(m) | LexBound::Exclusive(m), Some(score)) => {
                        [&score_bytes(score)[..], m].concat()
                    }
                    _ => Vec::new(),
                };
                self.walk(key, &start, &mut |member, score| {
                    if !lex_below_max(&member, max) {
                        return false;
                    }
                    !lex_above_min(&member, min) || visit(member, score)
                })
            }
        }
    }

    /// The members `spec` selects, in ascending (score, member) order.
    fn select(&self, key: &[u8], count: u64, spec: &ZRangeSpec) -> Result<Vec<Scored>, StoreError> {
        let mut out = Vec::new();
        self.each_selected(key, count, spec, false, &mut |member, score| {
            out.push((member, score));
            true
        })?;
        Ok(out)
    }

    pub(super) fn zscore(&self, key: &[u8], member: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_zset(key)? {
            Found::Absent => Output::Nil,
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::ZSet(_) => self
                .score_of(key, member)?
                .map_or(Output::Nil, Output::Double),
        })
    }

    pub(super) fn zmscore(&self, key: &[u8], members: &[Vec<u8>]) -> Result<Output, StoreError> {
        Ok(match self.find_zset(key)? {
            Found::Absent => Output::Array(vec![Output::Nil; members.len()]),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::ZSet(_) => Output::Array(
                members
                    .iter()
                    .map(|m| Ok(self.score_of(key, m)?.map_or(Output::Nil, Output::Double)))
                    .collect::<Result<_, StoreError>>()?,
            ),
        })
    }

    pub(super) fn zcard(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_zset(key)? {
            Found::Absent => Output::Int(0),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::ZSet(record) => int_output(keys::decode_count(&record.payload)?),
        })
    }

    pub(super) fn zcount(&self, key: &[u8], spec: &ZRangeSpec) -> Result<Output, StoreError> {
        Ok(match self.find_zset(key)? {
            Found::Absent => Output::Int(0),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::ZSet(record) => {
                let count = keys::decode_count(&record.payload)?;
                let mut selected = 0u64;
                self.each_selected(key, count, spec, false, &mut |_, _| {
                    selected += 1;
                    true
                })?;
                int_output(selected)
            }
        })
    }

    pub(super) fn zrange(
        &self,
        key: &[u8],
        spec: &ZRangeSpec,
        rev: bool,
        limit: Option<(i64, i64)>,
        withscores: bool,
    ) -> Result<Output, StoreError> {
        let record = match self.find_zset(key)? {
            Found::Absent => return Ok(Output::Array(Vec::new())),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::ZSet(record) => record,
        };
        let count = keys::decode_count(&record.payload)?;
        // LIMIT offset count: a negative offset selects nothing, a
        // negative count everything after the offset.
        let (skip, take) = match limit {
            Some((offset, _)) if offset < 0 => return Ok(Output::Array(Vec::new())),
            Some((offset, limit_count)) => (
                u64::try_from(offset).unwrap_or(u64::MAX),
                u64::try_from(limit_count).unwrap_or(u64::MAX),
            ),
            None => (0, u64::MAX),
        };
        let mut selected = Vec::new();
        if take > 0 {
            let mut passed = 0u64;
            self.each_selected(key, count, spec, rev, &mut |member, score| {
                passed += 1;
                if passed > skip {
                    selected.push((member, score));
                }
                (selected.len() as u64) < take
            })?;
        }
        Ok(scored_output(selected, withscores))
    }

    pub(super) fn zrank(&self, key: &[u8], member: &[u8], rev: bool) -> Result<Output, StoreError> {
        match self.find_zset(key)? {
            Found::Absent => return Ok(Output::Nil),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::ZSet(_) => {}
        }
        let Some(score) = self.score_of(key, member)? else {
            return Ok(Output::Nil);
        };
        // The buckets on its side of its own bucket, summed, plus the
        // entries between it and that end of its bucket.
        let entry = [&score_bytes(score)[..], member].concat();
        let (boundary, _) = self
            .bucket_of(key, &entry)?
            .ok_or_else(|| StoreError("a sorted set member outside every rank bucket".into()))?;
        let within = if rev {
            let prefix = keys::element_key(self.db, key, keys::SUB_ZBUCKET, &[]);
            let this = [&prefix[..], &boundary].concat();
            let next = self.bucket_next(&prefix, Some(&this), false)?;
            let after = [&entry[..], &[0]].concat();
            self.entries_between(key, &after, next.as_ref().map(|(b, _)| &b[..]))?
        } else {
            self.entries_between(key, &boundary, Some(&entry))?
        };
        let mut beyond = 0u64;
        self.each_bucket(key, rev, &mut |other, count| {
            let passed = if rev {
                other > &boundary[..]
            } else {
                other < &boundary[..]
            };
            beyond += if passed { count } else { 0 };
            passed
        })?;
        Ok(int_output(beyond + within))
    }

    pub(super) fn zscan(
        &self,
        key: &[u8],
        cursor: u64,
        pattern: Option<&[u8]>,
        count: u64,
    ) -> Result<Output, StoreError> {
        match self.find_zset(key)? {
            Found::Absent => return Ok(scan_reply(0, Vec::new())),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::ZSet(_) => {}
        }
        let prefix = keys::element_key(self.db, key, keys::SUB_ZMEMBER, &[]);
        let (next, members) = scan_elements(self.store, &prefix, cursor, count, pattern)?;
        let mut items = Vec::new();
        for (member, score) in members {
            let bits: [u8; 8] = score
                .as_slice()
                .try_into()
                .map_err(|_| StoreError(format!("score of {} bytes", score.len())))?;
            items.push(Output::Bytes(member));
            items.push(Output::Double(f64::from_bits(u64::from_le_bytes(bits))));
        }
        Ok(scan_reply(next, items))
    }

    /// The members and scores of `key` as a source of ZUNIONSTORE /
    /// ZINTERSTORE: a sorted set, or a set with every score 1.
    fn source(&self, key: &[u8]) -> Result<Result<Vec<Scored>, Output>, StoreError> {
        Ok(match self.live(key)? {
            None => Ok(Vec::new()),
            Some(record) if record.kind == Kind::ZSet => Ok(self.all_scored(key)?),
            Some(record) if record.kind == Kind::Set => {
                let prefix = keys::element_key(self.db, key, keys::SUB_MEMBER, &[]);
                Ok(super::scan_suffixes(self.store, &prefix)?
                    .into_iter()
                    .map(|(member, _)| (member, 1.0))
                    .collect())
            }
            Some(_) => Err(Output::err(errors::WRONGTYPE)),
        })
    }
}

fn scored_output(selected: Vec<Scored>, withscores: bool) -> Output {
    if withscores {
        Output::Pairs(
            selected
                .into_iter()
                .map(|(member, score)| (Output::Bytes(member), Output::Double(score)))
                .collect(),
        )
    } else {
        Output::Array(
            selected
                .into_iter()
                .map(|(member, _)| Output::Bytes(member))
                .collect(),
        )
    }
}

impl<S: Store> Shard<'_, S> {
    fn zset_for_write(&self, key: &[u8]) -> Result<Result<Option<Record>, Output>, StoreError> {
        Ok(match self.view().find_zset(key)? {
            Found::Absent => Ok(None),
            Found::ZSet(record) => Ok(Some(record)),
            Found::WrongType => Err(Output::err(errors::WRONGTYPE)),
        })
    }

    /// Sets `member`'s score, replacing its index entry if it had one.
    fn put_score(
        &mut self,
        key: &[u8],
        member: &[u8],
        old: Option<f64>,
        score: f64,
    ) -> Result<(), StoreError> {
        let score = if score == 0.0 { 0.0 } else { score };
        if let Some(old) = old {
            self.index_remove(key, &[&score_bytes(old)[..], member].concat())?;
        }
        self.index_insert(key, &[&score_bytes(score)[..], member].concat())?;
        let element = keys::element_key(self.db, key, keys::SUB_ZMEMBER, member);
        self.store.put(&element, &score.to_bits().to_le_bytes())
    }

    fn delete_member(&mut self, key: &[u8], member: &[u8], score: f64) -> Result<(), StoreError> {
        self.index_remove(key, &[&score_bytes(score)[..], member].concat())?;
        let element = keys::element_key(self.db, key, keys::SUB_ZMEMBER, member);
        self.store.delete(&element)
    }

    fn put_bucket(&mut self, key: &[u8], boundary: &[u8], count: u64) -> Result<(), StoreError> {
        let bucket = keys::element_key(self.db, key, keys::SUB_ZBUCKET, boundary);
        if count == 0 {
            self.store.delete(&bucket)
        } else {
            self.store.put(&bucket, &count.to_le_bytes())
        }
    }

    /// Adds index entry `entry` (sortable score, member) and counts it in
    /// its bucket, splitting the bucket in two when it grows past
    /// `BUCKET_MAX`.
    fn index_insert(&mut self, key: &[u8], entry: &[u8]) -> Result<(), StoreError> {
        let index = keys::element_key(self.db, key, keys::SUB_ZSCORE, entry);
        self.store.put(&index, &[])?;
        // Before every bucket (or in none): the first bucket starts at the
        // beginning.
        let (boundary, count) = self.view().bucket_of(key, entry)?.unwrap_or_default();
        let count = count + 1;
        if count <= BUCKET_MAX {
            return self.put_bucket(key, &boundary, count);
        }
        let keep = count / 2;
        let mut passed = 0u64;
        let mut split = None;
        self.view().walk(key, &boundary, &mut |member, score| {
            passed += 1;
            if passed > keep {
                split = Some([&score_bytes(score)[..], &member].concat());
            }
            passed <= keep
        })?;
        let split = split
            .ok_or_else(|| StoreError("a rank bucket counts more members than it holds".into()))?;
        self.put_bucket(key, &boundary, keep)?;
        self.put_bucket(key, &split, count - keep)
    }

    /// Removes index entry `entry` and uncounts it from its bucket; a
    /// bucket left below `BUCKET_MIN` merges into its predecessor, or takes
    /// in its successor, when the two fit in one.
    fn index_remove(&mut self, key: &[u8], entry: &[u8]) -> Result<(), StoreError> {
        let index = keys::element_key(self.db, key, keys::SUB_ZSCORE, entry);
        self.store.delete(&index)?;
        let (boundary, count) = self
            .view()
            .bucket_of(key, entry)?
            .ok_or_else(|| StoreError("a sorted set member outside every rank bucket".into()))?;
        let count = count
            .checked_sub(1)
            .ok_or_else(|| StoreError("an empty rank bucket".into()))?;
        if count == 0 || count >= BUCKET_MIN {
            return self.put_bucket(key, &boundary, count);
        }
        let prefix = keys::element_key(self.db, key, keys::SUB_ZBUCKET, &[]);
        let this = [&prefix[..], &boundary].concat();
        let view = self.view();
        let before = view.bucket_next(&prefix, Some(&this), true)?;
        let after = view.bucket_next(&prefix, Some(&this), false)?;
        match (before, after) {
            (Some((before, others)), _) if others + count <= BUCKET_MAX => {
                self.put_bucket(key, &boundary, 0)?;
                self.put_bucket(key, &before, others + count)
            }
            (_, Some((after, others))) if count + others <= BUCKET_MAX => {
                self.put_bucket(key, &after, 0)?;
                self.put_bucket(key, &boundary, count + others)
            }
            _ => self.put_bucket(key, &boundary, count),
        }
    }

    /// ZADD, as Redis's `zsetAdd`: NX/XX/GT/LT decide per member, CH counts
    /// changed scores too, INCR replies the new score (nil if a condition
    /// stopped it).
    pub(super) fn zadd(
        &mut self,
        key: &[u8],
        flags: ZAddFlags,
        pairs: &[(f64, Vec<u8>)],
    ) -> Result<Output, StoreError> {
        // Lowering refuses these; an op that reaches apply anyway gets the
        // same answer on every replica, before anything is written.
        if let Some(refusal) = flags.refusal(pairs.len()) {
            return Ok(Output::err(refusal));
        }
        if pairs.iter().any(|(score, _)| score.is_nan()) {
            return Ok(Output::err(errors::NOT_FLOAT));
        }
        let existing = match self.zset_for_write(key)? {
            Ok(existing) => existing,
            Err(output) => return Ok(output),
        };
        if existing.is_none() && flags.xx {
            return Ok(if flags.incr {
                Output::Nil
            } else {
                Output::Int(0)
            });
        }
        let mut count = existing
            .as_ref()
            .map_or(Ok(0), |record| keys::decode_count(&record.payload))?;
        let (mut added, mut changed) = (0u64, 0u64);
        let mut incr_reply = Output::Nil;
        for (score, member) in pairs {
            let current = self.view().score_of(key, member)?;
            match current {
                Some(current) => {
                    if flags.nx {
                        continue;
                    }
                    let new = if flags.incr { current + score } else { *score };
                    if new.is_nan() {
                        return Ok(Output::err(errors::SCORE_NAN));
                    }
                    if (flags.gt && new <= current) || (flags.lt && new >= current) {
                        continue;
                    }
                    incr_reply = Output::Double(new);
                    if new != current {
                        self.put_score(key, member, Some(current), new)?;
                        changed += 1;
                    }
                }
                None => {
                    if flags.xx {
                        continue;
                    }
                    self.put_score(key, member, None, *score)?;
                    incr_reply = Output::Double(if *score == 0.0 { 0.0 } else { *score });
                    added += 1;
                    count += 1;
                }
            }
        }
        if added + changed > 0 {
            self.store_counted(key, Kind::ZSet, existing.as_ref(), count)?;
        }
        Ok(if flags.incr {
            incr_reply
        } else if flags.ch {
            int_output(added + changed)
        } else {
            int_output(added)
        })
    }

    pub(super) fn zincrby(
        &mut self,
        key: &[u8],
        delta: f64,
        member: &[u8],
    ) -> Result<Output, StoreError> {
        let flags = ZAddFlags {
            incr: true,
            ..ZAddFlags::default()
        };
        self.zadd(key, flags, &[(delta, member.to_vec())])
    }

    pub(super) fn zrem(&mut self, key: &[u8], members: &[Vec<u8>]) -> Result<Output, StoreError> {
        let existing = match self.zset_for_write(key)? {
            Ok(Some(existing)) => existing,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let mut count = keys::decode_count(&existing.payload)?;
        let mut removed = 0u64;
        for member in members {
            if let Some(score) = self.view().score_of(key, member)? {
                self.delete_member(key, member, score)?;
                removed += 1;
                count -= 1;
            }
        }
        if removed > 0 {
            self.store_counted(key, Kind::ZSet, Some(&existing), count)?;
        }
        Ok(int_output(removed))
    }

    pub(super) fn zremrange(
        &mut self,
        key: &[u8],
        spec: &ZRangeSpec,
    ) -> Result<Output, StoreError> {
        let existing = match self.zset_for_write(key)? {
            Ok(Some(existing)) => existing,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let count = keys::decode_count(&existing.payload)?;
        let doomed = self.view().select(key, count, spec)?;
        for (member, score) in &doomed {
            self.delete_member(key, member, *score)?;
        }
        let removed = u64::try_from(doomed.len()).unwrap_or(u64::MAX);
        if removed > 0 {
            self.store_counted(key, Kind::ZSet, Some(&existing), count - removed)?;
        }
        Ok(int_output(removed))
    }

    /// ZPOPMIN / ZPOPMAX: without a count, one member and its score; with
    /// one, up to that many.
    pub(super) fn zpop(
        &mut self,
        key: &[u8],
        max: bool,
        count: Option<u64>,
    ) -> Result<Output, StoreError> {
        let existing = match self.zset_for_write(key)? {
            Ok(Some(existing)) => existing,
            Ok(None) => return Ok(Output::Array(Vec::new())),
            Err(output) => return Ok(output),
        };
        let total = keys::decode_count(&existing.payload)?;
        let wanted = count.unwrap_or(1).min(total);
        // The lowest (highest for ZPOPMAX) first, as they are popped.
        let spec = ZRangeSpec::Rank {
            start: 0,
            stop: i64::try_from(wanted).unwrap_or(i64::MAX) - 1,
        };
        let mut popped = Vec::new();
        if wanted > 0 {
            self.view()
                .each_selected(key, total, &spec, max, &mut |member, score| {
                    popped.push((member, score));
                    true
                })?;
        }
        for (member, score) in &popped {
            self.delete_member(key, member, *score)?;
        }
        if !popped.is_empty() {
            self.store_counted(key, Kind::ZSet, Some(&existing), total - wanted)?;
        }
        Ok(match count {
            None => Output::Array(
                popped
                    .into_iter()
                    .flat_map(|(member, score)| [Output::Bytes(member), Output::Double(score)])
                    .collect(),
            ),
            Some(_) => scored_output(popped, true),
        })
    }

    /// ZUNIONSTORE / ZINTERSTORE over sorted sets and sets (score 1). The
    /// result replaces `destination`; an empty one deletes it.
    pub(super) fn zcombine_store(
        &mut self,
        union: bool,
        destination: &[u8],
        sources: &[Key],
        weights: &[f64],
        aggregate: Aggregate,
    ) -> Result<Output, StoreError> {
        let mut inputs = Vec::with_capacity(sources.len());
        for key in sources {
            match self.view().source(key)? {
                Ok(members) => inputs.push(members),
                Err(output) => return Ok(output),
            }
        }
        let combine = |a: f64, b: f64| {
            let value = match aggregate {
                Aggregate::Sum => a + b,
                Aggregate::Min => a.min(b),
                Aggregate::Max => a.max(b),
            };
            // inf + -inf: Redis stores 0.
            if value.is_nan() {
                0.0
            } else {
                value
            }
        };
        let mut result: std::collections::BTreeMap<Vec<u8>, (f64, usize)> =
            std::collections::BTreeMap::new();
        for (i, members) in inputs.iter().enumerate() {
            let weight = weights.get(i).copied().unwrap_or(1.0);
            for (member, score) in members {
                let weighted = score * weight;
                let weighted = if weighted.is_nan() { 0.0 } else { weighted };
                result
                    .entry(member.clone())
                    .and_modify(|(total, seen)| {
                        *total = combine(*total, weighted);
                        *seen += 1;
                    })
                    .or_insert((weighted, 1));
            }
        }
        let keep: Vec<(Vec<u8>, f64)> = result
            .into_iter()
            .filter(|(_, (_, seen))| union || *seen == inputs.len())
            .map(|(member, (score, _))| (member, score))
            .collect();
        self.remove(destination)?;
        let count = u64::try_from(keep.len()).unwrap_or(u64::MAX);
        if count > 0 {
            self.put_kind(destination, Kind::ZSet, keys::encode_count(count), None)?;
            for (member, score) in &keep {
                self.put_score(destination, member, None, *score)?;
            }
        }
        Ok(int_output(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bytes_sort_like_the_scores() {
        // Goal: the index orders members by score exactly as numbers order
        // (negative, -0 = 0, subnormal, infinities) and decodes back.
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE / 2.0,
            1.0,
            1.5,
            1e300,
            f64::INFINITY,
        ];
        for pair in scores.windows(2) {
            assert!(score_bytes(pair[0]) < score_bytes(pair[1]), "{pair:?}");
        }
        assert_eq!(score_bytes(-0.0), score_bytes(0.0));
        for score in scores {
            let decoded = score_from_bytes(&score_bytes(score)).expect("decodes");
            assert_eq!(decoded.to_bits(), score.to_bits(), "{score}");
        }
    }

    #[test]
    fn index_ranges_clamp_like_redis() {
        // Goal: negative ranks count from the end; out-of-range ends clamp;
        // empty ranges are None.
        assert_eq!(crate::redis::apply::index_range(5, 0, -1), Some((0, 4)));
        assert_eq!(crate::redis::apply::index_range(5, -2, 100), Some((3, 4)));
        assert_eq!(crate::redis::apply::index_range(5, -100, 1), Some((0, 1)));
        assert_eq!(crate::redis::apply::index_range(5, 3, 2), None);
        assert_eq!(crate::redis::apply::index_range(5, 5, 9), None);
        assert_eq!(crate::redis::apply::index_range(0, 0, -1), None);
    }
}
