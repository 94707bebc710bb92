//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH.
//!
//! A blocked client waits on its keys in the node's change log
//! (`super::changes`): whenever this replica applies a write to one of
//! them and one of the keys holds something in the local state (a hint,
//! possibly stale), the session proposes one pop attempt through
//! the log (`Command::BlockingPop`); an attempt that finds the lists empty
//! (another client was faster) goes back to waiting. Each attempt carries a
//! request id drawn once, and the state machine remembers what a request
//! popped, so when an attempt's outcome is unknown (the leader changed) the
//! session retries the same request and gets the same element: nothing is
//! lost or popped twice across a leader change. Inside MULTI the command is
//! one attempt, as Redis runs it there without blocking.

use std::time::Duration;

use orbit_core::redis::{keys, Command, Output, RedisOp};

use super::node_ops;
use orbit_net::ExecError;

use super::session::{err, exec_error_frame, output_frame, Session};
use crate::resp::codec::Frame;

/// How long a blocked client keeps retrying one attempt whose outcome is
/// unknown before it reports that.
const UNKNOWN_RETRY_FOR: Duration = Duration::from_secs(60);

/// Redis's timeout argument: seconds as a float, 0 for "forever". Redis
/// truncates the milliseconds to a 64-bit integer, so a timeout whose
/// milliseconds fall outside it (1e300, inf) is "negative" there too, and
/// one above -1 ms is 0, forever.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, String> {
    let seconds = super::lower::parse_f64(arg)
        .filter(|s| !s.is_nan())
        .ok_or_else(|| "ERR timeout is not a float or out of range".to_string())?;
    let ms = (seconds * 1000.0).trunc();
    // 2^63 as f64: the first value a 64-bit integer cannot hold.
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err("ERR timeout is negative".to_string());
    }
    // In range, checked above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = ms as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// What a blocking pop replies when nothing came: a null array for
/// BLPOP / BRPOP, a null bulk string for BLMOVE / BRPOPLPUSH.
pub(super) fn timeout_reply(cmd: &Command) -> Frame {
    match cmd {
        Command::BlockingPop {
            destination: None, ..
        } => Frame::NullArray,
        _ => Frame::Null,
    }
}

impl Session {
    /// Runs a blocking pop until it gets an element or `timeout` passes.
    pub(super) async fn block(&mut self, op: RedisOp, timeout: Option<Duration>) -> Frame {
        let node = self.shared.node.clone();
        // A deadline past what the clock can name is no deadline.
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        let keys = match &op.cmd {
            Command::BlockingPop { keys, .. } => keys.clone(),
            _ => return err("ERR internal: not a blocking pop"),
        };
        // Woken by the change log when one of the keys is written; made
        // before the first attempt, so a push right after it is not missed.
        let store_keys = keys.iter().map(|key| keys::data_key(op.db, key)).collect();
        let changed = self.shared.waiters.register(store_keys);
        let mut cmd = op.cmd.clone();
        // Draw the request id once: every attempt of this call shares it.
        for seed in cmd.seeds_mut() {
            if *seed == 0 {
                *seed = node.random_u64();
            }
        }
        let mut unknown_since: Option<tokio::time::Instant> = None;
        loop {
            let worth_trying = unknown_since.is_some()
                || match node_ops::read_stale(&node, op.db, Command::Exists { keys: keys.clone() })
                {
                    Ok(Output::Int(n)) => n > 0,
                    _ => true,
                };
            if worth_trying {
                match node_ops::execute(&node, op.db, cmd.clone()).await {
                    Ok(Output::Nil) => unknown_since = None,
                    Ok(output) => return output_frame(output, self.protocol),
                    Err(ExecError::Unknown(why)) => {
                        let since = *unknown_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() > UNKNOWN_RETRY_FOR {
                            return exec_error_frame(ExecError::Unknown(why));
                        }
                        // Retry the same request: if it did pop, the state
                        // machine hands back that element.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => return exec_error_frame(e),
                }
            }
            let wait = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let mut closed = self.peer_closed.clone();
            let gone = async {
                match closed.as_mut() {
                    Some(closed) => {
                        let _ = closed.wait_for(|closed| *closed).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                // The client went away: nothing is popped for it.
                _ = gone => return timeout_reply(&cmd),
                () = changed.changed() => {}
                _ = wait => return timeout_reply(&cmd),
            }
        }
    }
}
