//! Membership: adding a node (join), removing one, and forcing an
//! election, all through openraft's membership changes on the leader.

use super::*;
use crate::membership::MembershipError;

impl Node {
    /// Adds `node_id` at `addr` to every shard's group as a voter. Runs on
    /// the leader; other nodes forward it there.
    pub async fn add_member(&self, node_id: u64, addr: String) -> Result<(), MembershipError> {
        for shard in self.inner.shards.values() {
            let raft = &shard.raft;
            match raft
                .add_learner(node_id, BasicNode { addr: addr.clone() }, true)
                .await
            {
                Ok(_) => {}
                Err(RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(f))) => {
                    let (Some(leader), Some(node)) = (f.leader_id, f.leader_node) else {
                        return Err(MembershipError::NoLeader);
                    };
                    if leader == self.id() {
                        return Err(MembershipError::LeadershipMoving);
                    }
                    return self.ask_to_join(leader, node.addr, node_id, addr).await;
                }
                Err(e) => return Err(MembershipError::Raft(e.to_string())),
            }
            let mut voters: BTreeSet<u64> = raft
                .metrics()
                .borrow_watched()
                .membership_config
                .membership()
                .voter_ids()
                .collect();
            voters.insert(node_id);
            raft.change_membership(voters, false)
                .await
                .map_err(|e| MembershipError::Raft(e.to_string()))?;
            tracing::info!(shard = %shard.id, node_id, "added a voter");
        }
        Ok(())
    }

    /// Asks the cluster at `seed_addr` to add this node, retrying until the
    /// cluster answers or `timeout` passes.
    pub async fn join(&self, seed_addr: &str, timeout: Duration) -> Result<(), MembershipError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let outcome = self
                .ask_to_join(
                    0,
                    seed_addr.to_string(),
                    self.id(),
                    self.inner.config.raft_addr.clone(),
                )
                .await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(why) if tokio::time::Instant::now() >= deadline => return Err(why),
                Err(why) => {
                    tracing::info!(seed = seed_addr, reason = %why, "join not done yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Asks the node `target` at `target_addr` to add `node_id` at `addr`
    /// (`PeerRequest::Join`), once.
    async fn ask_to_join(
        &self,
        target: u64,
        target_addr: String,
        node_id: u64,
        addr: String,
    ) -> Result<(), MembershipError> {
        let request = PeerRequest::Join { node_id, addr };
        let timeout = self.inner.config.request_timeout;
        match self
            .inner
            .transport
            .call(target, target_addr, request, timeout)
            .await
        {
            Ok(PeerResponse::Joined(result)) => result,
            Ok(other) => Err(MembershipError::Peer(format!(
                "unexpected reply: {other:?}"
            ))),
            Err(e) => Err(MembershipError::Peer(e.to_string())),
        }
    }

    /// Asks this node to start an election (a leader transfer when the
    /// current leader is healthy).
    pub async fn trigger_election(&self, shard: ShardId) -> Result<(), MembershipError> {
        let shard = self
            .shard(shard)
            .ok_or_else(|| MembershipError::NotHosted(shard.to_string()))?;
        shard
            .raft
            .trigger()
            .elect(false)
            .await
            .map_err(|e| MembershipError::Raft(e.to_string()))
    }

    /// Removes `node_id` from every shard's voters. Runs on the leader;
    /// refused when what remains could not commit (see
    /// [`removal_leaves_quorum`]).
    pub async fn remove_member(&self, node_id: u64) -> Result<(), MembershipError> {
        let live_within = Duration::from_millis(self.inner.config.election_timeout_ms_max);
        for shard in self.inner.shards.values() {
            let metrics = shard.raft.metrics().borrow_watched().clone();
            let mut voters: BTreeSet<u64> =
                metrics.membership_config.membership().voter_ids().collect();
            if !voters.remove(&node_id) {
                continue;
            }
            if metrics.current_leader != Some(self.id()) {
                return Err(MembershipError::NotLeader {
                    node: self.id(),
                    shard: shard.id.to_string(),
                    leader: metrics.current_leader,
                });
            }
            let heard: BTreeMap<u64, Duration> = metrics
                .heartbeat
                .iter()
                .flatten()
                .filter_map(|(id, at)| {
                    at.as_ref()
                        .map(|at| (*id, openraft::Instant::elapsed(&**at)))
                })
                .collect();
            removal_leaves_quorum(self.id(), &voters, &heard, live_within)?;
            shard
                .raft
                .change_membership(voters, false)
                .await
                .map_err(|e| MembershipError::Raft(e.to_string()))?;
        }
        Ok(())
    }

    /// Removes `node_id` from the voters through whichever node leads the
    /// home shard (which holds membership until the metadata group exists), forwarding there when it is not this one.
    pub async fn remove_member_through_leader(&self, node_id: u64) -> Result<(), MembershipError> {
        let home = self.inner.shard_map.home();
        let shard = self
            .shard(home)
            .ok_or_else(|| MembershipError::NotHosted(home.to_string()))?;
        let metrics = shard.raft.metrics().borrow_watched().clone();
        let leader = metrics.current_leader.ok_or(MembershipError::NoLeader)?;
        if leader == self.id() {
            return self.remove_member(node_id).await;
        }
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|node| node.addr.clone())
            .ok_or(MembershipError::LeaderAddressUnknown)?;
        let request = PeerRequest::RemoveMember { node_id };
        match self
            .inner
            .transport
            .call(leader, addr, request, self.inner.config.request_timeout)
            .await
        {
            Ok(PeerResponse::Removed(result)) => result,
            Ok(other) => Err(MembershipError::Peer(format!(
                "unexpected reply: {other:?}"
            ))),
            Err(e) => Err(MembershipError::Peer(format!(
                "the leader (node {leader}) did not answer: {e}"
            ))),
        }
    }
}
