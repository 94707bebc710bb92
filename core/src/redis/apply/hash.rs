//! Hashes: a record of kind `Hash` holding the field count, and one element
//! per field (`keys::SUB_FIELD`, field → value). Replies and errors follow
//! Redis 7's hash commands. A hash left with no field is deleted, as in
//! Redis. Writing a field keeps the key's expiry and bumps its version.

use super::scan::{scan_elements, scan_reply};
use super::{int_output, len_output, numbers, scan_suffixes, Pair, Shard, View};
use crate::redis::command::Value;
use crate::redis::keys::{self, Kind, Record};
use crate::redis::output::{errors, Output};
use crate::store::{Store, StoreError};

const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";

/// What a key holds, for hash commands.
enum Found {
    Absent,
    Hash(Record),
    WrongType,
}

impl<S: Store> View<'_, S> {
    /// The live hash at `key`: `Absent`, `WrongType`, or its record.
    fn find_hash(&self, key: &[u8]) -> Result<Found, StoreError> {
        Ok(match self.live(key)? {
            None => Found::Absent,
            Some(record) if record.kind == Kind::Hash => Found::Hash(record),
            Some(_) => Found::WrongType,
        })
    }

    fn field(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store
            .get(&keys::element_key(self.db, key, keys::SUB_FIELD, field))
    }

    /// Every (field, value) of the hash at `key`, in field order.
    fn fields(&self, key: &[u8]) -> Result<Vec<Pair>, StoreError> {
        scan_suffixes(
            self.store,
            &keys::element_key(self.db, key, keys::SUB_FIELD, &[]),
        )
    }

    pub(super) fn hget(&self, key: &[u8], field: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Nil,
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(_) => self.field(key, field)?.map_or(Output::Nil, Output::Bytes),
        })
    }

    pub(super) fn hmget(&self, key: &[u8], fields: &[Vec<u8>]) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Array(vec![Output::Nil; fields.len()]),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(_) => Output::Array(
                fields
                    .iter()
                    .map(|field| Ok(self.field(key, field)?.map_or(Output::Nil, Output::Bytes)))
                    .collect::<Result<_, StoreError>>()?,
            ),
        })
    }

    pub(super) fn hgetall(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Map(Vec::new()),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(_) => Output::Map(
                self.fields(key)?
                    .into_iter()
                    .map(|(field, value)| (Output::Bytes(field), Output::Bytes(value)))
                    .collect(),
            ),
        })
    }

    /// HKEYS (`values: false`) and HVALS.
    pub(super) fn hkeys_or_vals(&self, key: &[u8], values: bool) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Array(Vec::new()),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(_) => Output::Array(
                self.fields(key)?
                    .into_iter()
                    .map(|(field, value)| Output::Bytes(if values { value } else { field }))
                    .collect(),
            ),
        })
    }

    pub(super) fn hlen(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Int(0),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(record) => int_output(keys::decode_count(&record.payload)?),
        })
    }

    pub(super) fn hexists(&self, key: &[u8], field: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Int(0),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(_) => Output::Int(i64::from(self.field(key, field)?.is_some())),
        })
    }

    pub(super) fn hstrlen(&self, key: &[u8], field: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_hash(key)? {
            Found::Absent => Output::Int(0),
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::Hash(_) => self
                .field(key, field)?
                .map_or(Output::Int(0), |value| len_output(value.len())),
        })
    }

    /// HRANDFIELD: without a count, one field or nil; a positive count, that
    /// many distinct fields at most; a negative one, exactly |count|, with
    /// repeats. Chosen with the seed the node drew, so replicas agree.
    pub(super) fn hrandfield(
        &self,
        key: &[u8],
        count: Option<i64>,
        withvalues: bool,
        seed: u64,
    ) -> Result<Output, StoreError> {
        let fields = match self.find_hash(key)? {
            Found::Absent => Vec::new(),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::Hash(_) => self.fields(key)?,
        };
        let mut rng = super::picks::SplitMix(seed);
        let Some(count) = count else {
            return Ok(if fields.is_empty() {
                Output::Nil
            } else {
                Output::Bytes(fields[rng.below(fields.len())].0.clone())
            });
        };
        let chosen: Vec<usize> = if fields.is_empty() {
            Vec::new()
        } else if count >= 0 {
            rng.distinct(fields.len(), usize::try_from(count).unwrap_or(usize::MAX))
        } else {
            let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
            let bytes_of = |i: usize| {
                let (field, value) = &fields[i];
                field.len() + if withvalues { value.len() } else { 0 }
            };
            match rng.with_repeats(fields.len(), wanted, bytes_of) {
                Some(chosen) => chosen,
                None => return Ok(Output::err(errors::REPLY_TOO_LARGE)),
            }
        };
        Ok(if withvalues {
            Output::Pairs(
                chosen
                    .into_iter()
                    .map(|i| {
                        (
                            Output::Bytes(fields[i].0.clone()),
                            Output::Bytes(fields[i].1.clone()),
                        )
                    })
                    .collect(),
            )
        } else {
            Output::Array(
                chosen
                    .into_iter()
                    .map(|i| Output::Bytes(fields[i].0.clone()))
                    .collect(),
            )
        })
    }

    /// HSCAN. The cursor names a position in field order (see
    /// [`super::scan::scan_cursor`]): fields present for the whole scan are returned at
    /// least once, fields may come twice, as Redis allows.
    pub(super) fn hscan(
        &self,
        key: &[u8],
        cursor: u64,
        pattern: Option<&[u8]>,
        count: u64,
        novalues: bool,
    ) -> Result<Output, StoreError> {
        match self.find_hash(key)? {
            Found::Absent => return Ok(scan_reply(0, Vec::new())),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::Hash(_) => {}
        }
        let prefix = keys::element_key(self.db, key, keys::SUB_FIELD, &[]);
        let (next, fields) = scan_elements(self.store, &prefix, cursor, count, pattern)?;
        let mut items = Vec::new();
        for (field, value) in fields {
            items.push(Output::Bytes(field));
            if !novalues {
                items.push(Output::Bytes(value));
            }
        }
        Ok(scan_reply(next, items))
    }
}

impl<S: Store> Shard<'_, S> {
    /// The hash at `key` for a write: `Ok(None)` if absent, an error output
    /// if it holds another type.
    fn hash_for_write(&self, key: &[u8]) -> Result<Result<Option<Record>, Output>, StoreError> {
        Ok(match self.view().find_hash(key)? {
            Found::Absent => Ok(None),
            Found::Hash(record) => Ok(Some(record)),
            Found::WrongType => Err(Output::err(errors::WRONGTYPE)),
        })
    }

    fn field_key(&self, key: &[u8], field: &[u8]) -> Vec<u8> {
        keys::element_key(self.db, key, keys::SUB_FIELD, field)
    }

    /// HSET (`count_new`: replies the number of fields added) and HMSET
    /// (replies OK). A field named twice takes its last value.
    pub(super) fn hset(
        &mut self,
        key: &[u8],
        pairs: &[(Vec<u8>, Value)],
        count_new: bool,
    ) -> Result<Output, StoreError> {
        let existing = match self.hash_for_write(key)? {
            Ok(existing) => existing,
            Err(output) => return Ok(output),
        };
        let mut count = match &existing {
            Some(record) => keys::decode_count(&record.payload)?,
            None => 0,
        };
        let mut added = 0u64;
        for (field, value) in pairs {
            let element = self.field_key(key, field);
            if self.store.get(&element)?.is_none() {
                added += 1;
                count += 1;
            }
            self.store.put(&element, value)?;
        }
        self.store_counted(key, Kind::Hash, existing.as_ref(), count)?;
        Ok(if count_new {
            int_output(added)
        } else {
            Output::Ok
        })
    }

    pub(super) fn hsetnx(
        &mut self,
        key: &[u8],
        field: &[u8],
        value: &[u8],
    ) -> Result<Output, StoreError> {
        let existing = match self.hash_for_write(key)? {
            Ok(existing) => existing,
            Err(output) => return Ok(output),
        };
        let element = self.field_key(key, field);
        if self.store.get(&element)?.is_some() {
            return Ok(Output::Int(0));
        }
        let count = match &existing {
            Some(record) => keys::decode_count(&record.payload)? + 1,
            None => 1,
        };
        self.store.put(&element, value)?;
        self.store_counted(key, Kind::Hash, existing.as_ref(), count)?;
        Ok(Output::Int(1))
    }

    pub(super) fn hdel(&mut self, key: &[u8], fields: &[Vec<u8>]) -> Result<Output, StoreError> {
        let existing = match self.hash_for_write(key)? {
            Ok(Some(existing)) => existing,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let removed = self.remove_named(key, Kind::Hash, &existing, keys::SUB_FIELD, fields)?;
        Ok(int_output(removed))
    }

    pub(super) fn hincrby(
        &mut self,
        key: &[u8],
        field: &[u8],
        delta: i64,
    ) -> Result<Output, StoreError> {
        self.update_field(key, field, |current| {
            let value = match current {
                None => 0,
                Some(text) => numbers::parse_i64(text).ok_or(HASH_NOT_INTEGER)?,
            };
            let next = value.checked_add(delta).ok_or(errors::OVERFLOW)?;
            Ok((next.to_string().into_bytes(), Output::Int(next)))
        })
    }

    pub(super) fn hincrbyfloat(
        &mut self,
        key: &[u8],
        field: &[u8],
        delta: &[u8],
    ) -> Result<Output, StoreError> {
        self.update_field(key, field, |current| {
            match numbers::incr_by_float(current, delta) {
                Ok(text) => Ok((text.clone().into_bytes(), Output::Bytes(text.into_bytes()))),
                Err(numbers::FloatError::NotFloat) => Err(HASH_NOT_FLOAT),
                Err(numbers::FloatError::NanOrInfinity) => Err(errors::NAN_OR_INF),
            }
        })
    }

    /// Replaces one field's value with what `update` makes of the current
    /// one (`None`: absent), creating the hash and the field as needed;
    /// `update` returns the new value and the reply, or an error text.
    fn update_field(
        &mut self,
        key: &[u8],
        field: &[u8],
        update: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, Output), &'static str>,
    ) -> Result<Output, StoreError> {
        let existing = match self.hash_for_write(key)? {
            Ok(existing) => existing,
            Err(output) => return Ok(output),
        };
        let element = self.field_key(key, field);
        let current = self.store.get(&element)?;
        let (value, reply) = match update(current.as_deref()) {
            Ok(updated) => updated,
            Err(text) => return Ok(Output::err(text)),
        };
        self.store.put(&element, &value)?;
        let count = hash_count(existing.as_ref())? + u64::from(current.is_none());
        self.store_counted(key, Kind::Hash, existing.as_ref(), count)?;
        Ok(reply)
    }
}

fn hash_count(existing: Option<&Record>) -> Result<u64, StoreError> {
    existing.map_or(Ok(0), |record| keys::decode_count(&record.payload))
}
