//! Sets: a record of kind `Set` holding the member count, and one empty
//! element per member (`keys::SUB_MEMBER`). Replies and errors follow Redis
//! 7's set commands; members come back in byte order (Redis leaves the order
//! unspecified). An empty set is deleted. SPOP and SRANDMEMBER choose with
//! the seed the proposer drew and carried in the command, so every replica
//! chooses the same members.

use std::collections::BTreeSet;

use super::picks::SplitMix;
use super::scan::{scan_elements, scan_reply};
use super::{int_output, scan_suffixes, Shard, View};
use crate::redis::command::{Key, SetOp};
use crate::redis::keys::{self, Kind, Record};
use crate::redis::output::{errors, Output};
use crate::store::{Store, StoreError};

type Members = BTreeSet<Vec<u8>>;

/// What a key holds, for set commands.
enum Found {
    Absent,
    Set(Record),
    WrongType,
}

impl<S: Store> View<'_, S> {
    fn find_set(&self, key: &[u8]) -> Result<Found, StoreError> {
        Ok(match self.live(key)? {
            None => Found::Absent,
            Some(record) if record.kind == Kind::Set => Found::Set(record),
            Some(_) => Found::WrongType,
        })
    }

    fn is_member(&self, key: &[u8], member: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .store
            .get(&keys::element_key(self.db, key, keys::SUB_MEMBER, member))?
            .is_some())
    }

    fn members(&self, key: &[u8]) -> Result<Members, StoreError> {
        let prefix = keys::element_key(self.db, key, keys::SUB_MEMBER, &[]);
        Ok(scan_suffixes(self.store, &prefix)?
            .into_iter()
            .map(|(member, _)| member)
            .collect())
    }

    /// The members of the set at `key` (empty if absent), or WRONGTYPE.
    fn set_members(&self, key: &[u8]) -> Result<Result<Members, Output>, StoreError> {
        Ok(match self.find_set(key)? {
            Found::Absent => Ok(Members::new()),
            Found::Set(_) => Ok(self.members(key)?),
            Found::WrongType => Err(Output::err(errors::WRONGTYPE)),
        })
    }

    pub(super) fn smembers(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.set_members(key)? {
            Ok(members) => members_output(members),
            Err(output) => output,
        })
    }

    pub(super) fn sismember(&self, key: &[u8], member: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_set(key)? {
            Found::Absent => Output::Int(0),
            Found::Set(_) => Output::Int(i64::from(self.is_member(key, member)?)),
            Found::WrongType => Output::err(errors::WRONGTYPE),
        })
    }

    pub(super) fn smismember(&self, key: &[u8], members: &[Vec<u8>]) -> Result<Output, StoreError> {
        Ok(match self.find_set(key)? {
            Found::Absent => Output::Array(vec![Output::Int(0); members.len()]),
            Found::Set(_) => Output::Array(
                members
                    .iter()
                    .map(|m| Ok(Output::Int(i64::from(self.is_member(key, m)?))))
                    .collect::<Result<_, StoreError>>()?,
            ),
            Found::WrongType => Output::err(errors::WRONGTYPE),
        })
    }

    pub(super) fn scard(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_set(key)? {
            Found::Absent => Output::Int(0),
            Found::Set(record) => int_output(keys::decode_count(&record.payload)?),
            Found::WrongType => Output::err(errors::WRONGTYPE),
        })
    }

    /// SRANDMEMBER: no count, one member or nil; a positive count, that many
    /// distinct members at most; a negative count, exactly |count| members,
    /// repeats allowed.
    pub(super) fn srandmember(
        &self,
        key: &[u8],
        count: Option<i64>,
        seed: u64,
    ) -> Result<Output, StoreError> {
        let members: Vec<Vec<u8>> = match self.set_members(key)? {
            Ok(members) => members.into_iter().collect(),
            Err(output) => return Ok(output),
        };
        let mut rng = SplitMix(seed);
        Ok(match count {
            None if members.is_empty() => Output::Nil,
            None => Output::Bytes(members[rng.below(members.len())].clone()),
            Some(count) if count >= 0 => {
                let wanted = usize::try_from(count).unwrap_or(usize::MAX);
                Output::Array(
                    rng.distinct(members.len(), wanted)
                        .into_iter()
                        .map(|i| Output::Bytes(members[i].clone()))
                        .collect(),
                )
            }
            Some(_) if members.is_empty() => Output::Array(Vec::new()),
            Some(count) => {
                let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
                let Some(chosen) = rng.with_repeats(members.len(), wanted, |i| members[i].len())
                else {
                    return Ok(Output::err(errors::REPLY_TOO_LARGE));
                };
                Output::Array(
                    chosen
                        .into_iter()
                        .map(|i| Output::Bytes(members[i].clone()))
                        .collect(),
                )
            }
        })
    }

    /// SINTER / SUNION / SDIFF over `keys`, or WRONGTYPE if any is not a set.
    fn combine(&self, op: SetOp, keys: &[Key]) -> Result<Result<Members, Output>, StoreError> {
        let mut sets = Vec::with_capacity(keys.len());
        for key in keys {
            match self.set_members(key)? {
                Ok(members) => sets.push(members),
                Err(output) => return Ok(Err(output)),
            }
        }
        let mut sets = sets.into_iter();
        let first = sets.next().unwrap_or_default();
        Ok(Ok(sets.fold(first, |acc, next| match op {
            SetOp::Inter => acc.intersection(&next).cloned().collect(),
            SetOp::Union => acc.union(&next).cloned().collect(),
            SetOp::Diff => acc.difference(&next).cloned().collect(),
        })))
    }

    pub(super) fn scombine(&self, op: SetOp, keys: &[Key]) -> Result<Output, StoreError> {
        Ok(match self.combine(op, keys)? {
            Ok(members) => members_output(members),
            Err(output) => output,
        })
    }

    /// SINTERCARD: the intersection's size, counting up to `limit` (0: no
    /// limit).
    pub(super) fn sintercard(&self, keys: &[Key], limit: u64) -> Result<Output, StoreError> {
        Ok(match self.combine(SetOp::Inter, keys)? {
            Ok(members) => {
                let size = u64::try_from(members.len()).unwrap_or(u64::MAX);
                int_output(if limit == 0 { size } else { size.min(limit) })
            }
            Err(output) => output,
        })
    }

    pub(super) fn sscan(
        &self,
        key: &[u8],
        cursor: u64,
        pattern: Option<&[u8]>,
        count: u64,
    ) -> Result<Output, StoreError> {
        match self.find_set(key)? {
            Found::Absent => return Ok(scan_reply(0, Vec::new())),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::Set(_) => {}
        }
        let prefix = keys::element_key(self.db, key, keys::SUB_MEMBER, &[]);
        let (next, members) = scan_elements(self.store, &prefix, cursor, count, pattern)?;
        let items = members
            .into_iter()
            .map(|(member, _)| Output::Bytes(member))
            .collect();
        Ok(scan_reply(next, items))
    }
}

fn members_output(members: Members) -> Output {
    Output::Array(members.into_iter().map(Output::Bytes).collect())
}

impl<S: Store> Shard<'_, S> {
    fn member_key(&self, key: &[u8], member: &[u8]) -> Vec<u8> {
        keys::element_key(self.db, key, keys::SUB_MEMBER, member)
    }

    /// The set at `key` for a write: its record (`None`: absent) or an
    /// error output.
    fn set_for_write(&self, key: &[u8]) -> Result<Result<Option<Record>, Output>, StoreError> {
        Ok(match self.view().find_set(key)? {
            Found::Absent => Ok(None),
            Found::Set(record) => Ok(Some(record)),
            Found::WrongType => Err(Output::err(errors::WRONGTYPE)),
        })
    }

    fn count_of(existing: Option<&Record>) -> Result<u64, StoreError> {
        existing.map_or(Ok(0), |record| keys::decode_count(&record.payload))
    }

    pub(super) fn sadd(&mut self, key: &[u8], members: &[Vec<u8>]) -> Result<Output, StoreError> {
        let existing = match self.set_for_write(key)? {
            Ok(existing) => existing,
            Err(output) => return Ok(output),
        };
        let mut count = Self::count_of(existing.as_ref())?;
        let mut added = 0u64;
        for member in members {
            let element = self.member_key(key, member);
            if self.store.get(&element)?.is_none() {
                self.store.put(&element, &[])?;
                added += 1;
                count += 1;
            }
        }
        if added > 0 {
            self.store_counted(key, Kind::Set, existing.as_ref(), count)?;
        }
        Ok(int_output(added))
    }

    pub(super) fn srem(&mut self, key: &[u8], members: &[Vec<u8>]) -> Result<Output, StoreError> {
        let existing = match self.set_for_write(key)? {
            Ok(Some(existing)) => existing,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let removed = self.remove_named(key, Kind::Set, &existing, keys::SUB_MEMBER, members)?;
        Ok(int_output(removed))
    }

    /// SPOP: without a count, one member or nil; with one, up to that many
    /// distinct members (an array, empty if the key is absent).
    pub(super) fn spop(
        &mut self,
        key: &[u8],
        count: Option<u64>,
        seed: u64,
    ) -> Result<Output, StoreError> {
        let existing = match self.set_for_write(key)? {
            Ok(Some(existing)) => existing,
            Ok(None) => {
                return Ok(if count.is_some() {
                    Output::Array(Vec::new())
                } else {
                    Output::Nil
                })
            }
            Err(output) => return Ok(output),
        };
        let members: Vec<Vec<u8>> = self.view().members(key)?.into_iter().collect();
        let mut rng = SplitMix(seed);
        let wanted = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
        let mut chosen = rng.distinct(members.len(), wanted);
        chosen.sort_unstable();
        let popped: Vec<Vec<u8>> = chosen.into_iter().map(|i| members[i].clone()).collect();
        for member in &popped {
            let element = self.member_key(key, member);
            self.store.delete(&element)?;
        }
        let left = keys::decode_count(&existing.payload)?
            - u64::try_from(popped.len()).unwrap_or(u64::MAX);
        if !popped.is_empty() {
            self.store_counted(key, Kind::Set, Some(&existing), left)?;
        }
        Ok(match count {
            None => popped.into_iter().next().map_or(Output::Nil, Output::Bytes),
            Some(_) => members_output(popped.into_iter().collect()),
        })
    }

    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: the result replaces
    /// `destination` whatever it held; an empty result deletes it.
    pub(super) fn scombine_store(
        &mut self,
        op: SetOp,
        destination: &[u8],
        keys: &[Key],
    ) -> Result<Output, StoreError> {
        let members = match self.view().combine(op, keys)? {
            Ok(members) => members,
            Err(output) => return Ok(output),
        };
        self.remove(destination)?;
        let count = u64::try_from(members.len()).unwrap_or(u64::MAX);
        if count > 0 {
            self.put_kind(destination, Kind::Set, keys::encode_count(count), None)?;
            for member in &members {
                let element = self.member_key(destination, member);
                self.store.put(&element, &[])?;
            }
        }
        Ok(int_output(count))
    }

    /// SMOVE, in Redis's order of checks: an absent source replies 0
    /// before the destination's type is looked at; a destination that
    /// already holds the member is left as it is.
    pub(super) fn smove(
        &mut self,
        source: &[u8],
        destination: &[u8],
        member: &[u8],
    ) -> Result<Output, StoreError> {
        let from = match self.set_for_write(source)? {
            Ok(Some(from)) => from,
            Ok(None) => return Ok(Output::Int(0)),
            Err(output) => return Ok(output),
        };
        let to = match self.set_for_write(destination)? {
            Ok(to) => to,
            Err(output) => return Ok(output),
        };
        if !self.view().is_member(source, member)? {
            return Ok(Output::Int(0));
        }
        if source == destination {
            return Ok(Output::Int(1));
        }
        let element = self.member_key(source, member);
        self.store.delete(&element)?;
        self.store_counted(
            source,
            Kind::Set,
            Some(&from),
            keys::decode_count(&from.payload)? - 1,
        )?;
        let target = self.member_key(destination, member);
        if self.store.get(&target)?.is_none() {
            self.store.put(&target, &[])?;
            let count = Self::count_of(to.as_ref())? + 1;
            self.store_counted(destination, Kind::Set, to.as_ref(), count)?;
        }
        Ok(Output::Int(1))
    }
}
