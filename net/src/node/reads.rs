//! The read path: reads are answered from the applied state after a
//! ReadIndex confirmation, batched per shard by `confirm_reads`, or
//! forwarded to the leader.

use super::*;

impl Node {
    pub(super) async fn read(
        &self,
        shard_id: ShardId,
        ops: Vec<Op>,
    ) -> Result<Vec<Reply>, ExecError> {
        #[cfg(madsim)]
        if orbit_core::fault::bug("stale-read") {
            if let Some(shard) = self.shard(shard_id) {
                let now_ms = self.inner.stamper.stamp(0);
                return ops
                    .iter()
                    .map(|op| shard.state.read(now_ms, op))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ExecError::Failed(e.to_string()));
            }
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.request_timeout;
        loop {
            let leader = match self.read_local(shard_id, &ops).await {
                Ok(outputs) => return Ok(outputs),
                Err(Proposed::NotLeader(leader, node)) => leader.zip(node),
                Err(Proposed::Unknown(why) | Proposed::Failed(why)) => {
                    return Err(ExecError::Failed(why))
                }
            };
            if let Some((leader, node)) = leader.filter(|(id, _)| *id != self.id()) {
                let request = PeerRequest::Read {
                    shard: shard_id,
                    ops: ops.clone(),
                };
                match self.forward(leader, node, request, deadline).await {
                    Ok(outputs) => return Ok(outputs),
                    Err(Forwarded::Retry) => {}
                    // A read changes nothing, so an unknown outcome is a failure.
                    Err(Forwarded::Done(ExecError::Unknown(why))) => {
                        return Err(ExecError::Failed(why))
                    }
                    Err(Forwarded::Done(e)) => return Err(e),
                }
            }
            if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(ExecError::NoLeader);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Linearizable reads on this node, if it leads the shard: wait for a
    /// leadership check that started after they arrived (see
    /// `confirm_reads`), wait until applied reaches its read index, then read
    /// at a time no earlier than any stamp issued so far.
    pub(super) async fn read_local(
        &self,
        shard_id: ShardId,
        ops: &[Op],
    ) -> Result<Vec<Reply>, Proposed> {
        let Some(shard) = self.shard(shard_id) else {
            return Err(Proposed::Failed(format!("{shard_id} is not hosted here")));
        };
        let (waiter, confirmed) = oneshot::channel();
        arrived(&shard.readers_returning);
        if shard.reads.send(waiter).await.is_err() {
            return Err(Proposed::Failed("the node is shutting down".into()));
        }
        let needed = confirmed
            .await
            .unwrap_or_else(|_| Err(Proposed::Failed("the node is shutting down".into())))?;
        let mut applied = shard.state.subscribe_applied();
        let timeout = self.inner.config.request_timeout;
        match tokio::time::timeout(timeout, applied.wait_for(|index| *index >= needed)).await {
            Ok(Ok(_)) => {}
            _ => {
                return Err(Proposed::Failed(
                    "timed out waiting for the state machine".into(),
                ))
            }
        }
        shard
            .state
            .read_ops(|clock_ms| self.inner.stamper.stamp(clock_ms), ops)
            .map_err(|e| Proposed::Failed(e.to_string()))
    }

    /// Batched ReadIndex: one leadership check serves every read that was
    /// waiting when it started. A read that arrives during a check waits for
    /// the next one, so the check it gets always began after it arrived, as
    /// linearizability requires.
    pub(super) async fn confirm_reads(
        self,
        shard_id: ShardId,
        mut queue: mpsc::Receiver<ReadWaiter>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(shard) = self.shard(shard_id) else {
            return;
        };
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                waiter = queue.recv() => match waiter {
                    Some(waiter) => waiter,
                    None => return,
                },
            };
            let mut waiters = vec![first];
            if orbit_core::buggify!() {
                // buggify: no lingering, only the reads already waiting.
                while let Ok(waiter) = queue.try_recv() {
                    waiters.push(waiter);
                }
            } else {
                // As for writes (see `commit_writes`): under load, wait
                // briefly for the readers the last check answered, so that
                // one check serves them all. 50 clients reading took about
                // 14 reads per check without it, and each check costs the
                // leader a send and a receive per follower.
                linger(&mut queue, &shard.readers_returning, &mut waiters, 1, |_| 1).await;
            }
            let index = self.read_index(shard_id).await;
            shard
                .readers_returning
                .fetch_add(waiters.len(), Ordering::Relaxed);
            for waiter in waiters {
                let _ = waiter.send(index.clone());
            }
        }
    }

    /// Confirms leadership with a quorum and returns the index a read must
    /// see applied.
    pub(super) async fn read_index(&self, shard_id: ShardId) -> Result<u64, Proposed> {
        let Some(shard) = self.shard(shard_id) else {
            return Err(Proposed::Failed(format!("{shard_id} is not hosted here")));
        };
        let timeout = self.inner.config.request_timeout;
        let confirm = shard.raft.get_read_log_id(ReadPolicy::ReadIndex);
        let read_index = match tokio::time::timeout(timeout, confirm).await {
            Err(_) => return Err(Proposed::Failed("timed out confirming leadership".into())),
            Ok(Ok((read_log_id, _applied))) => read_log_id.log_id().index,
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
                return Err(Proposed::NotLeader(f.leader_id, f.leader_node));
            }
            Ok(Err(e)) => return Err(Proposed::Failed(e.to_string())),
        };
        Ok(read_index)
    }
}
