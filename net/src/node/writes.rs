//! The write path: a run of writes is proposed through the shard's write
//! queue (or forwarded to the leader), gathered into entries by
//! `commit_writes` (group commit, `linger`) and answered from the entry's
//! outputs.

use super::*;

impl Node {
    /// Refuses, before anything is proposed, a write too large for the log
    /// (`entry_bytes_max`): one that would fail in replication instead.
    pub(super) fn check_entry_size(&self, ops: &[Op]) -> Result<(), ExecError> {
        #[cfg(madsim)]
        if orbit_core::fault::bug("skip-entry-size-check") {
            return Ok(());
        }
        let limit = self.inner.config.entry_bytes_max;
        for op in ops {
            let bytes = encoded_bytes(std::slice::from_ref(op));
            if bytes > limit {
                return Err(ExecError::Failed(format!(
                    "the command is {bytes} bytes, more than the {limit} a replicated write may take (entry-size-max); the command was not applied"
                )));
            }
        }
        Ok(())
    }

    pub(super) async fn write(
        &self,
        shard: ShardId,
        ops: Vec<Op>,
    ) -> Result<Vec<Reply>, ExecError> {
        let deadline = tokio::time::Instant::now() + self.inner.config.request_timeout;
        loop {
            let leader = match self.propose(shard, ops.clone()).await {
                Ok(outputs) => return Ok(outputs),
                Err(Proposed::Unknown(why)) => return Err(ExecError::Unknown(why)),
                Err(Proposed::Failed(why)) => return Err(ExecError::Failed(why)),
                Err(Proposed::NotLeader(leader, node)) => leader.zip(node),
            };
            if let Some((leader, node)) = leader.filter(|(id, _)| *id != self.id()) {
                let request = PeerRequest::Write {
                    shard,
                    ops: ops.clone(),
                };
                match self.forward(leader, node, request, deadline).await {
                    Ok(outputs) => return Ok(outputs),
                    Err(Forwarded::Retry) => {}
                    Err(Forwarded::Done(e)) => return Err(e),
                }
            }
            if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(ExecError::NoLeader);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Proposes writes on this node if it leads `shard`: they join the
    /// shard's next log entry (see `commit_writes`).
    pub(super) async fn propose(
        &self,
        shard: ShardId,
        ops: Vec<Op>,
    ) -> Result<Vec<Reply>, Proposed> {
        let Some(shard) = self.shard(shard) else {
            return Err(Proposed::Failed(format!("{shard} is not hosted here")));
        };
        let (reply, outcome) = oneshot::channel();
        arrived(&shard.returning);
        let bytes = encoded_bytes(&ops);
        if shard
            .writes
            .send(Proposal { ops, bytes, reply })
            .await
            .is_err()
        {
            return Err(Proposed::Failed("the node is shutting down".into()));
        }
        outcome.await.unwrap_or_else(|_| {
            Err(Proposed::Unknown(
                "the node stopped before the write finished".into(),
            ))
        })
    }

    /// Group commit: takes the writes waiting for `shard` and proposes them
    /// as one log entry, with up to `WRITES_IN_FLIGHT` entries proposed and
    /// not yet committed. While those are in flight the next writes gather,
    /// so under load one append, one fsync and one replication round serve
    /// many clients. Writes that wait together are concurrent (each client
    /// waits for its own reply), so their order in the entry is free.
    pub(super) async fn commit_writes(
        self,
        shard_id: ShardId,
        mut queue: mpsc::Receiver<Proposal>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(shard) = self.shard(shard_id) else {
            return;
        };
        let slots = Arc::new(Semaphore::new(WRITES_IN_FLIGHT));
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                proposal = queue.recv() => match proposal {
                    Some(proposal) => proposal,
                    None => return,
                },
            };
            let slot = tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            let weight = proposal_weight(&first);
            let mut batch = vec![first];
            // buggify: tiny batches, one client's writes per entry.
            let gather = !orbit_core::buggify!();
            // Under load, the writers the last entry answered are about to
            // write again: wait for them, briefly, so that they make this
            // entry rather than the next. Without it, 50 clients split into
            // two groups of 25 that took turns, each waiting a whole round
            // (bench/redis_compare.sh, 3 nodes: 25k SET/s).
            //
            // The limits came from bench/redis_compare.sh with 50 clients:
            // 250 µs at most gave SET 34-39k/s and -P 16 207-232k/s; 2 ms at
            // most, ending 200 µs after the last arrival, 42-44k/s and
            // 207-274k/s (-P 16 entries went from about 400 ops to 800).
            if gather {
                linger(
                    &mut queue,
                    &shard.returning,
                    &mut batch,
                    weight,
                    proposal_weight,
                )
                .await;
            }
            tokio::spawn(self.clone().write_entry(shard_id, batch, slot));
        }
    }

    pub(super) async fn write_entry(
        self,
        shard_id: ShardId,
        batch: Vec<Proposal>,
        _slot: OwnedSemaphorePermit,
    ) {
        let Some(shard) = self.shard(shard_id) else {
            return;
        };
        let counts: Vec<usize> = batch.iter().map(|p| p.ops.len()).collect();
        let mut replies = Vec::with_capacity(batch.len());
        let mut ops = Vec::with_capacity(counts.iter().sum());
        for proposal in batch {
            ops.extend(proposal.ops);
            replies.push(proposal.reply);
        }
        let expected = ops.len();
        let result = self.propose_entry(shard, ops).await;
        match result {
            Ok(outputs) if outputs.len() == expected => {
                let mut outputs = outputs.into_iter();
                shard.returning.fetch_add(replies.len(), Ordering::Relaxed);
                for (reply, count) in replies.into_iter().zip(counts) {
                    let _ = reply.send(Ok(outputs.by_ref().take(count).collect()));
                }
            }
            Ok(outputs) => {
                let why = format!(
                    "internal: the entry returned {} outputs for {expected} ops",
                    outputs.len()
                );
                for reply in replies {
                    let _ = reply.send(Err(Proposed::Unknown(why.clone())));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Stamps `ops` as one entry and proposes it.
    pub(super) async fn propose_entry(
        &self,
        shard: &Shard,
        ops: Vec<Op>,
    ) -> Result<Vec<Reply>, Proposed> {
        let clock_ms = shard.state.clock_ms();
        let request = Entry::new(self.inner.stamper.stamp(clock_ms), ops);
        if orbit_core::buggify!() {
            let delay_ms = orbit_core::fault::random_below(200);
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        #[cfg(madsim)]
        if orbit_core::fault::bug("ack-before-commit")
            && request
                .ops
                .iter()
                .all(|op| matches!(op, Op::Redis(op) if matches!(op.cmd, orbit_core::redis::Command::Set { get: false, .. })))
        {
            let acked = vec![Reply::Redis(orbit_core::redis::Output::Ok); request.ops.len()];
            let raft = shard.raft.clone();
            tokio::spawn(async move {
                let _ = raft.client_write(request).await;
            });
            return Ok(acked);
        }
        let written = tokio::time::timeout(
            self.inner.config.request_timeout,
            shard.raft.client_write(request),
        )
        .await;
        match written {
            Err(_) => Err(Proposed::Unknown(
                "timed out waiting for the write to commit".into(),
            )),
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(Proposed::NotLeader(f.leader_id, f.leader_node))
            }
            Ok(Err(e)) => Err(Proposed::Unknown(e.to_string())),
        }
    }
}

/// Gathers more of `queue` into `batch` (whose weight so far is `weight`)
/// while clients answered by the last batch are still coming back (the
/// `returning` count): until the queue is empty and none is expected, none
/// has arrived for `LINGER_GAP`, `LINGER_MAX` has passed, or the batch
/// weighs `ENTRY_OPS_MAX`. It sleeps on the queue meanwhile.
pub(super) async fn linger<T>(
    queue: &mut mpsc::Receiver<T>,
    returning: &AtomicUsize,
    batch: &mut Vec<T>,
    mut weight: usize,
    weigh: impl Fn(&T) -> usize,
) {
    let linger_end = tokio::time::Instant::now() + LINGER_MAX;
    let mut gap_end = tokio::time::Instant::now() + LINGER_GAP;
    while weight < ENTRY_OPS_MAX {
        let item = match queue.try_recv() {
            Ok(item) => Some(item),
            Err(_)
                if returning.load(Ordering::Relaxed) > 0
                    && tokio::time::Instant::now() < linger_end.min(gap_end) =>
            {
                // Sleep until a client comes back or the linger ends. (It
                // used to spin on yields, up to 4,096 per entry, because
                // tokio's timers are coarse: waiting instead freed the
                // leader's CPU and measured -P 16 SET 231-260k/s against
                // 197-233k.)
                tokio::select! {
                    biased;
                    item = queue.recv() => match item {
                        Some(item) => Some(item),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(linger_end.min(gap_end)) => None,
                }
            }
            Err(_) => {
                // Whoever has not come back by now is doing something
                // else: stop waiting for them.
                returning.store(0, Ordering::Relaxed);
                break;
            }
        };
        if let Some(item) = item {
            weight += weigh(&item);
            batch.push(item);
            gap_end = tokio::time::Instant::now() + LINGER_GAP;
        }
    }
}

/// What a proposal adds to an entry's weight (see [`OP_WEIGHT_BYTES`]).
pub(super) fn proposal_weight(proposal: &Proposal) -> usize {
    proposal.ops.len() + proposal.bytes / OP_WEIGHT_BYTES
}

/// One answered client came back (see `Shard::returning`).
pub(super) fn arrived(returning: &AtomicUsize) {
    let _ = returning.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}
