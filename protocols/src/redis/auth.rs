//! Password checks and the record of failed ones.
//!
//! A password is compared in constant time: both sides are hashed with
//! SHA-256 and the digests compared without an early exit, so the time of a
//! check says nothing about how much of a guess was right, nor about the
//! password's length. Every failure is counted (INFO's
//! `acl_access_denied_auth`), logged at most once a second with the number
//! of failures held back, and kept in ACL LOG as Redis keeps it: an entry
//! per (reason, context, object, user), grouped while failures keep coming
//! within a minute, newest first, at most [`ACL_LOG_ENTRIES_MAX`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::resp::codec::Frame;

/// Redis's `acllog-max-len` default.
pub const ACL_LOG_ENTRIES_MAX: usize = 128;
/// Failures of one kind this close together share an entry (Redis's
/// ACL_LOG_GROUPING_MAX_TIME_DELTA).
const ACL_LOG_GROUPING: Duration = Duration::from_secs(60);
/// At most one log line per this long; the failures in between are counted
/// in the next line.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// True when `given` is `expected`, in time that depends on neither.
pub fn password_matches(expected: &[u8], given: &[u8]) -> bool {
    let expected = Sha256::digest(expected);
    let given = Sha256::digest(given);
    let difference = expected
        .iter()
        .zip(given.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
struct Entry {
    count: u64,
    /// What the client typed as the command (`AUTH`, `hello`, ...).
    object: String,
    username: String,
    context: &'static str,
    client_info: String,
    created: Instant,
    updated: Instant,
}

/// The failed authentications of one server.
#[derive(Default)]
pub struct AuthFailures {
    total: AtomicU64,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<Entry>,
    last_line: Option<Instant>,
    held_back: u64,
}

impl AuthFailures {
    /// Failures since the server started (or CONFIG RESETSTAT).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn reset_total(&self) {
        self.total.store(0, Ordering::Relaxed);
    }

    /// Records a failed authentication of `username` by `client` (its
    /// CLIENT INFO line) through command `object`.
    pub fn record(&self, object: &str, username: &[u8], in_multi: bool, client: String) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let username = String::from_utf8_lossy(username).into_owned();
        let context = if in_multi { "multi" } else { "toplevel" };
        let mut log = self.log.lock().expect("auth log lock");
        log.note(object, &username, context, client.trim_end(), now);
        let due = log.last_line.is_none_or(|last| now - last >= LOG_INTERVAL);
        if due {
            tracing::warn!(
                user = %username,
                client = %client.trim_end(),
                held_back = log.held_back,
                "authentication failed"
            );
            log.last_line = Some(now);
            log.held_back = 0;
        } else {
            log.held_back += 1;
        }
    }

    /// ACL LOG [count | RESET].
    pub fn acl_log(&self, args: &[Vec<u8>]) -> Frame {
        let mut log = self.log.lock().expect("auth log lock");
        let count = match args {
            [] => 10,
            [arg] if arg.eq_ignore_ascii_case(b"RESET") => {
                log.entries.clear();
                return Frame::SimpleString(b"OK".to_vec());
            }
            [arg] => match super::lower::parse_i64(arg) {
                Some(count) => usize::try_from(count).unwrap_or(0),
                None => {
                    return Frame::Error(
                        orbit_core::redis::output::errors::NOT_INTEGER
                            .as_bytes()
                            .to_vec(),
                    )
                }
            },
            _ => {
                return Frame::Error(
                    orbit_core::redis::output::errors::SYNTAX
                        .as_bytes()
                        .to_vec(),
                )
            }
        };
        let now = Instant::now();
        Frame::Array(
            log.entries
                .iter()
                .take(count)
                .map(|e| e.frame(now))
                .collect(),
        )
    }
}

impl Log {
    fn note(
        &mut self,
        object: &str,
        username: &str,
        context: &'static str,
        client: &str,
        now: Instant,
    ) {
        let same = self.entries.iter().position(|e| {
            e.object.eq_ignore_ascii_case(object)
                && e.username == username
                && e.context == context
                && now - e.updated < ACL_LOG_GROUPING
        });
        if let Some(at) = same {
            let mut entry = self.entries.remove(at).expect("found above");
            entry.count += 1;
            entry.updated = now;
            entry.client_info = client.to_string();
            self.entries.push_front(entry);
            return;
        }
        self.entries.push_front(Entry {
            count: 1,
            object: object.to_string(),
            username: username.to_string(),
            context,
            client_info: client.to_string(),
            created: now,
            updated: now,
        });
        self.entries.truncate(ACL_LOG_ENTRIES_MAX);
        assert!(self.entries.len() <= ACL_LOG_ENTRIES_MAX);
    }
}

impl Entry {
    /// The entry as Redis 7.0 shows it: a map of its seven fields.
    fn frame(&self, now: Instant) -> Frame {
        let bulk = |text: &str| Frame::Bulk(text.as_bytes().to_vec());
        let age_seconds = (now - self.created).as_secs_f64();
        Frame::Map(vec![
            (
                bulk("count"),
                Frame::Integer(i64::try_from(self.count).unwrap_or(i64::MAX)),
            ),
            (bulk("reason"), bulk("auth")),
            (bulk("context"), bulk(self.context)),
            (bulk("object"), bulk(&self.object)),
            (bulk("username"), bulk(&self.username)),
            (bulk("age-seconds"), Frame::Double(age_seconds)),
            (bulk("client-info"), bulk(&self.client_info)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_match_only_when_equal() {
        // Goal: equal bytes match; a prefix, an extension, one changed
        // byte and the empty password do not.
        assert!(password_matches(b"secret", b"secret"));
        for wrong in [&b"secre"[..], b"secrets", b"secreT", b""] {
            assert!(!password_matches(b"secret", wrong));
        }
        assert!(password_matches(b"", b""));
    }

    #[tokio::test]
    async fn failures_group_per_user_and_stay_bounded() {
        // Goal: repeated failures of one user share one entry with a count;
        // other users get their own, newest first; RESET empties the log;
        // the log never holds more than its maximum; the total counts all.
        let failures = AuthFailures::default();
        for _ in 0..3 {
            failures.record("AUTH", b"default", false, "id=1\n".into());
        }
        failures.record("auth", b"bob", false, "id=2\n".into());
        let Frame::Array(entries) = failures.acl_log(&[]) else {
            panic!("array")
        };
        assert_eq!(entries.len(), 2);
        let Frame::Map(newest) = &entries[0] else {
            panic!("map")
        };
        assert_eq!(newest[4].1, Frame::Bulk(b"bob".to_vec()));
        let Frame::Map(oldest) = &entries[1] else {
            panic!("map")
        };
        assert_eq!(oldest[0].1, Frame::Integer(3));
        assert_eq!(oldest[6].1, Frame::Bulk(b"id=1".to_vec()));
        let Frame::Array(one) = failures.acl_log(&[b"1".to_vec()]) else {
            panic!("array")
        };
        assert_eq!(one.len(), 1);
        for user in 0..(ACL_LOG_ENTRIES_MAX + 10) {
            failures.record("AUTH", user.to_string().as_bytes(), false, String::new());
        }
        let Frame::Array(all) = failures.acl_log(&[b"1000".to_vec()]) else {
            panic!("array")
        };
        assert_eq!(all.len(), ACL_LOG_ENTRIES_MAX);
        assert_eq!(failures.total(), 4 + ACL_LOG_ENTRIES_MAX as u64 + 10);
        assert_eq!(
            failures.acl_log(&[b"reset".to_vec()]),
            Frame::SimpleString(b"OK".to_vec())
        );
        assert_eq!(failures.acl_log(&[]), Frame::Array(Vec::new()));
    }
}
