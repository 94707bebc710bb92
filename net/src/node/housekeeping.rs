//! Background upkeep of each hosted shard: breaking election ties and
//! sweeping expired keys.

use super::*;

impl Node {
    /// The leader proposes an expiry sweep when a deadline has passed, so
    /// expired keys are deleted at the same log position on every replica.
    /// openraft 0.9 draws a node's election timeout once, when Raft starts,
    /// and checks it on its heartbeat ticks. Two voters that restart at the
    /// same moment with timeouts in the same tick then start every election
    /// together and split the vote forever (found by the simulator: with one
    /// of three nodes gone and the other two restarted together, no leader was
    /// ever elected). While no leader is known, this task starts an election
    /// now and then at a fresh random moment, which breaks the tie.
    pub(super) async fn break_election_ties(
        self,
        shard_id: ShardId,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let period_ms = self.inner.config.election_timeout_ms_max * 2;
        loop {
            let wait_ms = period_ms + jitter_ms(&*self.inner.random, period_ms);
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            }
            let Some(shard) = self.shard(shard_id) else {
                return;
            };
            let metrics = shard.raft.metrics().borrow_watched().clone();
            let voter = metrics
                .membership_config
                .membership()
                .voter_ids()
                .any(|id| id == self.id());
            if metrics.current_leader.is_none() && voter && metrics.running_state.is_ok() {
                tracing::debug!(shard = %shard_id, term = metrics.current_term, "no leader known; starting an election");
                let _ = shard.raft.trigger().elect(false).await;
            }
        }
    }

    pub(super) async fn sweep_expired(
        self,
        shard_id: ShardId,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.inner.config.expiry_sweep_interval) => {}
            }
            let Some(shard) = self.shard(shard_id) else {
                return;
            };
            if shard.raft.metrics().borrow_watched().current_leader != Some(self.id()) {
                continue;
            }
            let due = match shard.state.earliest_deadline_ms() {
                Ok(Some(deadline)) => deadline <= self.inner.stamper.now_ms(),
                Ok(None) => false,
                Err(e) => {
                    tracing::error!(shard = %shard_id, error = %e, "cannot read the expiry index");
                    false
                }
            };
            if due {
                let sweep = Op::redis(
                    0,
                    orbit_core::redis::Command::ExpireSweep {
                        limit: SWEEP_KEYS_MAX,
                    },
                );
                let _ = self.propose(shard_id, vec![sweep]).await;
            }
        }
    }
}

/// A random delay below `bound_ms`.
pub(super) fn jitter_ms(random: &dyn Random, bound_ms: u64) -> u64 {
    random.next_u64() % bound_ms.max(1)
}
