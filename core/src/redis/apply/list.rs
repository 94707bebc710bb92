//! Lists: a record of kind `List` holding `[count][head]`, and one element
//! per item at positions `head .. head + count` (`keys::SUB_ITEM`, position
//! as u64 big-endian). Pushes and pops at either end, LINDEX and LSET touch
//! one item; LRANGE reads only its range. LREM and LINSERT rewrite the list
//! (O(n), as in Redis). An empty list is deleted. Replies and errors follow
//! Redis 7.

use super::{int_output, Shard, View};
use crate::redis::command::Value;
use crate::redis::keys::{self, Kind, Record};
use crate::redis::output::{errors, Output};
use crate::store::{Store, StoreError};

const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";

/// A list's record payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta {
    count: u64,
    head: u64,
}

impl Meta {
    fn decode(payload: &[u8]) -> Result<Meta, StoreError> {
        let count = keys::decode_count(payload)?;
        let head = payload
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| StoreError(format!("list record of {} bytes", payload.len())))?;
        Ok(Meta { count, head })
    }

    fn encode(self) -> Vec<u8> {
        let mut out = keys::encode_count(self.count);
        out.extend_from_slice(&self.head.to_le_bytes());
        out
    }

    fn empty() -> Meta {
        Meta {
            count: 0,
            head: keys::LIST_HEAD_START,
        }
    }

    /// The position of the item at Redis index `index` (negative counts
    /// from the tail), if there is one.
    fn position(self, index: i64) -> Option<u64> {
        let count = i128::from(self.count);
        let index = i128::from(index);
        let index = if index < 0 { count + index } else { index };
        (0..count)
            .contains(&index)
            .then(|| self.head + u64::try_from(index).expect("0 <= index < count"))
    }

    /// Redis's LRANGE / LTRIM clamping: the index range `start..=stop` that
    /// exists, if any.
    fn range(self, start: i64, stop: i64) -> Option<(u64, u64)> {
        super::index_range(self.count, start, stop)
    }
}

/// What a key holds, for list commands.
enum Found {
    Absent,
    List(Record, Meta),
    WrongType,
}

impl<S: Store> View<'_, S> {
    fn find_list(&self, key: &[u8]) -> Result<Found, StoreError> {
        Ok(match self.live(key)? {
            None => Found::Absent,
            Some(record) if record.kind == Kind::List => {
                let meta = Meta::decode(&record.payload)?;
                Found::List(record, meta)
            }
            Some(_) => Found::WrongType,
        })
    }

    fn item_key(&self, key: &[u8], position: u64) -> Vec<u8> {
        keys::element_key(self.db, key, keys::SUB_ITEM, &position.to_be_bytes())
    }

    fn item(&self, key: &[u8], position: u64) -> Result<Vec<u8>, StoreError> {
        self.store
            .get(&self.item_key(key, position))?
            .ok_or_else(|| StoreError(format!("list item at position {position} is missing")))
    }

    /// The items at indices `first..=last`, in order.
    fn items(
        &self,
        key: &[u8],
        meta: Meta,
        first: u64,
        last: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_ITEM, &[]);
        let wanted = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(wanted.min(1024));
        self.store.scan_from(
            &prefix,
            &self.item_key(key, meta.head + first),
            &mut |_, value| {
                out.push(value.to_vec());
                out.len() < wanted
            },
        )?;
        if out.len() != wanted {
            return Err(StoreError(format!(
                "list holds {} of the {wanted} items its record counts",
                out.len()
            )));
        }
        Ok(out)
    }

    fn all_items(&self, key: &[u8], meta: Meta) -> Result<Vec<Vec<u8>>, StoreError> {
        if meta.count == 0 {
            return Ok(Vec::new());
        }
        self.items(key, meta, 0, meta.count - 1)
    }

    pub(super) fn lrange(&self, key: &[u8], start: i64, stop: i64) -> Result<Output, StoreError> {
        Ok(match self.find_list(key)? {
            Found::Absent => Output::Array(Vec::new()),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::List(_, meta) => match meta.range(start, stop) {
                None => Output::Array(Vec::new()),
                Some((first, last)) => Output::Array(
                    self.items(key, meta, first, last)?
                        .into_iter()
                        .map(Output::Bytes)
                        .collect(),
                ),
            },
        })
    }

    pub(super) fn lindex(&self, key: &[u8], index: i64) -> Result<Output, StoreError> {
        Ok(match self.find_list(key)? {
            Found::Absent => Output::Nil,
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::List(_, meta) => match meta.position(index) {
                None => Output::Nil,
                Some(position) => Output::Bytes(self.item(key, position)?),
            },
        })
    }

    pub(super) fn llen(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_list(key)? {
            Found::Absent => Output::Int(0),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::List(_, meta) => int_output(meta.count),
        })
    }

    /// LPOS. A positive `rank` finds the rank-th match from the head, a
    /// negative one from the tail; positions are always counted from the
    /// head. At most `maxlen` items are compared (0: all).
    pub(super) fn lpos(
        &self,
        key: &[u8],
        element: &[u8],
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    ) -> Result<Output, StoreError> {
        if rank == 0 {
            // Lowering refuses it; an op that reaches apply anyway gets the
            // same answer on every replica.
            return Ok(Output::err(errors::RANK_ZERO));
        }
        let meta = match self.find_list(key)? {
            Found::Absent => {
                return Ok(if count.is_some() {
                    Output::Array(Vec::new())
                } else {
                    Output::Nil
                })
            }
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::List(_, meta) => meta,
        };
        let limit = if maxlen == 0 {
            meta.count
        } else {
            maxlen.min(meta.count)
        };
        let wanted = match count {
            None => 1,
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        // Items are visited in place, from the end RANK names, and the walk
        // stops at MAXLEN or once enough matched: a long list is never
        // read whole into memory.
        let mut skip = rank.unsigned_abs() - 1;
        let mut found = Vec::new();
        let mut seen = 0u64;
        let mut visit = |_: &[u8], item: &[u8]| {
            let index = if rank > 0 {
                seen
            } else {
                meta.count - 1 - seen
            };
            seen += 1;
            if item == element {
                if skip > 0 {
                    skip -= 1;
                } else {
                    found.push(Output::Int(i64::try_from(index).unwrap_or(i64::MAX)));
                }
            }
            seen < limit && found.len() < wanted
        };
        if limit > 0 {
            let prefix = keys::element_key(self.db, key, keys::SUB_ITEM, &[]);
            if rank > 0 {
                let first = self.item_key(key, meta.head);
                self.store.scan_from(&prefix, &first, &mut visit)?;
            } else {
                let past = self.item_key(key, meta.head + meta.count);
                self.store.scan_rev(&prefix, Some(&past), &mut visit)?;
            }
        }
        Ok(match count {
            None => found.pop().unwrap_or(Output::Nil),
            Some(_) => Output::Array(found),
        })
    }
}

impl<S: Store> Shard<'_, S> {
    /// The list at `key` for a write: `Ok(None)` if absent, an error output
    /// if it holds another type.
    fn list_for_write(
        &self,
        key: &[u8],
    ) -> Result<Result<Option<(Record, Meta)>, Output>, StoreError> {
        Ok(match self.view().find_list(key)? {
            Found::Absent => Ok(None),
            Found::List(record, meta) => Ok(Some((record, meta))),
            Found::WrongType => Err(Output::err(errors::WRONGTYPE)),
        })
    }

    /// Writes the list record (deleting the key when empty), keeping the
    /// deadline of `existing`.
    fn store_list(
        &mut self,
        key: &[u8],
        existing: Option<&Record>,
        meta: Meta,
    ) -> Result<(), StoreError> {
        if meta.count == 0 {
            return self.remove(key).map(drop);
        }
        let expires_at_ms = existing.and_then(|record| record.expires_at_ms);
        self.put_collection(key, Kind::List, meta.encode(), expires_at_ms)
    }

    /// Adds `values` at one end, in order (LPUSH a b c leaves c first).
    fn push_items(
        &mut self,
        key: &[u8],
        mut meta: Meta,
        values: &[Value],
        left: bool,
    ) -> Result<Meta, StoreError> {
        for value in values {
            let position = if left {
                meta.head -= 1;
                meta.head
            } else {
                meta.head + meta.count
            };
            let item = self.view().item_key(key, position);
            self.store.put(&item, value)?;
            meta.count += 1;
        }
        Ok(meta)
    }

    /// Removes and returns up to `n` items from one end.
    fn pop_items(
        &mut self,
        key: &[u8],
        mut meta: Meta,
        n: u64,
        left: bool,
    ) -> Result<(Meta, Vec<Vec<u8>>), StoreError> {
        let n = n.min(meta.count);
        let mut popped = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1024));
        for _ in 0..n {
            let position = if left {
                meta.head
            } else {
                meta.head + meta.count - 1
            };
            let item = self.view().item_key(key, position);
            let value = self.view().item(key, position)?;
            self.store.delete(&item)?;
            popped.push(value);
            meta.count -= 1;
            if left {
                meta.head += 1;
            }
        }
        Ok((meta, popped))
    }

    /// Replaces the whole list with `items` (LREM, LINSERT).
    fn rewrite(
        &mut self,
        key: &[u8],
        record: &Record,
        meta: Meta,
        items: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        for index in 0..meta.count {
            let item = self.view().item_key(key, meta.head + index);
            self.store.delete(&item)?;
        }
        let fresh = Meta {
            count: 0,
            head: meta.head,
        };
        let fresh = self.push_items(key, fresh, items, false)?;
        self.store_list(key, Some(record), fresh)
    }

    pub(super) fn push(
        &mut self,
        key: &[u8],
        values: &[Value],
        left: bool,
        only_if_exists: bool,
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(key)? {
            Ok(Some((record, meta))) => (Some(record), meta),
            Ok(None) if only_if_exists => return Ok(Output::Int(0)),
            Ok(None) => (None, Meta::empty()),
            Err(output) => return Ok(output),
        };
        let meta = self.push_items(key, meta, values, left)?;
        self.store_list(key, record.as_ref(), meta)?;
        Ok(int_output(meta.count))
    }

    pub(super) fn pop(
        &mut self,
        key: &[u8],
        left: bool,
        count: Option<u64>,
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(key)? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Output::Nil),
            Err(output) => return Ok(output),
        };
        let (meta, popped) = self.pop_items(key, meta, count.unwrap_or(1), left)?;
        if !popped.is_empty() {
            self.store_list(key, Some(&record), meta)?;
        }
        Ok(match count {
            None => popped.into_iter().next().map_or(Output::Nil, Output::Bytes),
            Some(_) => Output::Array(popped.into_iter().map(Output::Bytes).collect()),
        })
    }

    pub(super) fn lset(
        &mut self,
        key: &[u8],
        index: i64,
        value: &[u8],
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(key)? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Output::err(errors::NO_SUCH_KEY)),
            Err(output) => return Ok(output),
        };
        let Some(position) = meta.position(index) else {
            return Ok(Output::err(INDEX_OUT_OF_RANGE));
        };
        let item = self.view().item_key(key, position);
        self.store.put(&item, value)?;
        self.store_list(key, Some(&record), meta)?;
        Ok(Output::Ok)
    }

    /// LREM: `count` > 0 removes the first `count` matches from the head,
    /// < 0 from the tail, 0 all of them.
    pub(super) fn lrem(
        &mut self,
        key: &[u8],
        count: i64,
        value: &[u8],
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(key)? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let items = self.view().all_items(key, meta)?;
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut removed = 0u64;
        let mut keep = vec![true; items.len()];
        let order: Box<dyn Iterator<Item = usize>> = if count >= 0 {
            Box::new(0..items.len())
        } else {
            Box::new((0..items.len()).rev())
        };
        for index in order {
            if removed < limit && items[index] == value {
                keep[index] = false;
                removed += 1;
            }
        }
        if removed > 0 {
            let kept: Vec<Vec<u8>> = items
                .into_iter()
                .zip(keep)
                .filter_map(|(item, keep)| keep.then_some(item))
                .collect();
            self.rewrite(key, &record, meta, &kept)?;
        }
        Ok(int_output(removed))
    }

    pub(super) fn ltrim(
        &mut self,
        key: &[u8],
        start: i64,
        stop: i64,
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(key)? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Output::Ok),
            Err(output) => return Ok(output),
        };
        let (first, last) = match meta.range(start, stop) {
            Some(range) => range,
            None => (meta.count, meta.count), // keeps nothing
        };
        for index in (0..meta.count).filter(|&i| i < first || i > last) {
            let item = self.view().item_key(key, meta.head + index);
            self.store.delete(&item)?;
        }
        let trimmed = if first >= meta.count {
            Meta {
                count: 0,
                head: meta.head,
            }
        } else {
            Meta {
                count: last - first + 1,
                head: meta.head + first,
            }
        };
        if trimmed != meta {
            self.store_list(key, Some(&record), trimmed)?;
        }
        Ok(Output::Ok)
    }

    pub(super) fn linsert(
        &mut self,
        key: &[u8],
        before: bool,
        pivot: &[u8],
        value: &[u8],
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(key)? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let mut items = self.view().all_items(key, meta)?;
        let Some(at) = items.iter().position(|item| item == pivot) else {
            return Ok(Output::Int(-1));
        };
        items.insert(if before { at } else { at + 1 }, value.to_vec());
        self.rewrite(key, &record, meta, &items)?;
        Ok(int_output(meta.count + 1))
    }

    /// LMOVE in Redis's order of checks: an absent source replies nil; a
    /// source or destination of another type is WRONGTYPE, before anything
    /// moves.
    pub(super) fn lmove(
        &mut self,
        source: &[u8],
        destination: &[u8],
        from_left: bool,
        to_left: bool,
    ) -> Result<Output, StoreError> {
        let (record, meta) = match self.list_for_write(source)? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Output::Nil),
            Err(output) => return Ok(output),
        };
        if let Err(output) = self.list_for_write(destination)? {
            return Ok(output);
        }
        let (meta, mut popped) = self.pop_items(source, meta, 1, from_left)?;
        self.store_list(source, Some(&record), meta)?;
        let value = popped
            .pop()
            .ok_or_else(|| StoreError("a live list has no item".into()))?;
        let (target, target_meta) = match self.list_for_write(destination)? {
            Ok(Some((record, meta))) => (Some(record), meta),
            Ok(None) => (None, Meta::empty()),
            Err(output) => return Ok(output),
        };
        let target_meta = self.push_items(
            destination,
            target_meta,
            std::slice::from_ref(&value),
            to_left,
        )?;
        self.store_list(destination, target.as_ref(), target_meta)?;
        Ok(Output::Bytes(value))
    }
}

/// A blocking pop's result, as kept for retries (see `keys`).
fn encode_pop_result(output: &Output) -> Option<Vec<u8>> {
    match output {
        Output::Array(items) => match items.as_slice() {
            [Output::Bytes(key), Output::Bytes(value)] => {
                let mut out = vec![0u8];
                out.extend_from_slice(&u32::try_from(key.len()).ok()?.to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(value);
                Some(out)
            }
            _ => None,
        },
        Output::Bytes(value) => {
            let mut out = vec![1u8];
            out.extend_from_slice(value);
            Some(out)
        }
        _ => None,
    }
}

fn decode_pop_result(bytes: &[u8]) -> Result<Output, StoreError> {
    let bad = || StoreError(format!("pop result of {} bytes", bytes.len()));
    match bytes.split_first() {
        Some((0, rest)) => {
            let len = rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(bad)?;
            let len = usize::try_from(len).map_err(|_| bad())?;
            let key = rest.get(4..4 + len).ok_or_else(bad)?;
            let value = &rest[4 + len..];
            Ok(Output::Array(vec![
                Output::Bytes(key.to_vec()),
                Output::Bytes(value.to_vec()),
            ]))
        }
        Some((1, value)) => Ok(Output::Bytes(value.to_vec())),
        _ => Err(bad()),
    }
}

impl<S: Store> Shard<'_, S> {
    /// One attempt of a blocking pop. A request seen before replies what it
    /// got then; otherwise the first non-empty list of `keys` gives up an
    /// element (moved to `destination` for BLMOVE), which is remembered
    /// under `request`; nil when every list is empty.
    pub(super) fn blocking_pop(
        &mut self,
        keys_to_try: &[Value],
        left: bool,
        destination: Option<&(Value, bool)>,
        request: u64,
    ) -> Result<Output, StoreError> {
        if let Some(done) = self.store.get(&keys::pop_result_key(request))? {
            return decode_pop_result(&done);
        }
        let mut output = Output::Nil;
        for key in keys_to_try {
            match self.list_for_write(key)? {
                Err(wrong_type) => return Ok(wrong_type),
                Ok(None) => continue,
                Ok(Some(_)) => {}
            }
            output = match destination {
                Some((target, to_left)) => self.lmove(key, target, left, *to_left)?,
                None => match self.pop(key, left, None)? {
                    Output::Bytes(value) => {
                        Output::Array(vec![Output::Bytes(key.clone()), Output::Bytes(value)])
                    }
                    other => other,
                },
            };
            break;
        }
        if let Some(encoded) = encode_pop_result(&output) {
            self.remember_pop_result(request, &encoded)?;
        }
        Ok(output)
    }

    fn remember_pop_result(&mut self, request: u64, encoded: &[u8]) -> Result<(), StoreError> {
        self.store.put(&keys::pop_result_key(request), encoded)?;
        self.store
            .put(&keys::pop_result_age_key(self.version, request), &[])?;
        let mut count = keys::read_pop_result_count(self.store)? + 1;
        if count > keys::POP_RESULTS_MAX {
            let oldest = super::take_oldest(self.store, keys::TAG_POP_RESULT_AGE)?;
            let forgotten = u64::from_be_bytes(oldest[9..17].try_into().expect("8 bytes"));
            self.store.delete(&keys::pop_result_key(forgotten))?;
            count -= 1;
        }
        keys::write_pop_result_count(self.store, count)
    }
}
