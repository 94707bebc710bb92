//! What a node answers its peers: forwarded writes and reads, joins and
//! removals, Raft's own messages, and snapshots arriving in pieces.

use super::*;

/// What tells one snapshot transfer from another: the sender's transfer
/// id, the snapshot's last log id and the vote it was sent under.
pub(super) type InstalledKey = (u64, Option<LogId>, Vote);

/// A snapshot arriving in pieces (`PeerRequest::SnapshotChunk`): its
/// transfer and the bytes so far.
pub(super) struct IncomingSnapshot {
    transfer: u64,
    bytes: Vec<u8>,
}

impl IncomingSnapshot {
    /// Adds a piece to the transfer in `slot`: a first piece (offset 0)
    /// starts one, replacing any other; a later one must continue the
    /// current transfer where it ends, or repeat the piece taken last
    /// (the sender tries a piece again when its answer is lost). Returns
    /// the whole snapshot after the last piece, and clears `slot`.
    pub(super) fn take(
        slot: &mut Option<IncomingSnapshot>,
        (transfer, offset, last): (u64, u64, bool),
        data: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, String> {
        match slot.as_mut() {
            _ if offset == 0 => {
                *slot = Some(IncomingSnapshot {
                    transfer,
                    bytes: data,
                })
            }
            Some(current)
                if current.transfer == transfer && current.bytes.len() as u64 == offset =>
            {
                current.bytes.extend_from_slice(&data)
            }
            // The piece taken last, sent again (its answer was lost): taken.
            Some(current)
                if current.transfer == transfer
                    && !last
                    && current.bytes.len() as u64 == offset + data.len() as u64
                    && current.bytes[current.bytes.len() - data.len()..] == data[..] => {}
            _ => {
                return Err(format!(
                    "snapshot piece at offset {offset} of transfer {transfer:#x} does not \
                     follow the pieces received"
                ))
            }
        }
        Ok(if last {
            slot.take().map(|current| current.bytes)
        } else {
            None
        })
    }
}

impl Shard {
    /// Takes one piece of a snapshot (see `IncomingSnapshot::take`); the
    /// last installs the snapshot.
    async fn receive_snapshot_chunk(
        &self,
        vote: Vote,
        meta: SnapshotMeta,
        (transfer, offset, last): (u64, u64, bool),
        data: Vec<u8>,
    ) -> Result<Option<SnapshotResponse<TypeConfig>>, String> {
        let key: InstalledKey = (transfer, meta.last_log_id, vote);
        if last {
            let installed = self
                .installed_snapshot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, response)) = installed.as_ref().filter(|(done, _)| *done == key) {
                return Ok(Some(response.clone()));
            }
        }
        let piece = {
            let mut incoming = self
                .incoming_snapshot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            IncomingSnapshot::take(&mut incoming, (transfer, offset, last), data)?
        };
        let Some(bytes) = piece else {
            return Ok(None);
        };
        let snapshot = Snapshot {
            meta,
            snapshot: std::io::Cursor::new(bytes),
        };
        let response = self
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| e.to_string())?;
        *self
            .installed_snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((key, response.clone()));
        Ok(Some(response))
    }
}

impl PeerHandler for Node {
    fn handle(&self, request: PeerRequest) -> BoxFuture<'static, PeerResponse> {
        let node = self.clone();
        Box::pin(async move { node.handle_peer(request).await })
    }

    fn stream_append(
        &self,
        shard: ShardId,
        input: mpsc::Receiver<AppendEntriesRequest<TypeConfig>>,
    ) -> Option<AppendResults> {
        let shard = self.shard(shard)?;
        let input = futures_util::stream::unfold(input, |mut input| async move {
            input.recv().await.map(|rpc| (rpc, input))
        });
        let results = shard
            .raft
            .stream_append(input)
            .map(|result| result.map_err(|fatal| fatal.to_string()));
        Some(Box::pin(results))
    }
}

impl Node {
    async fn handle_peer(&self, request: PeerRequest) -> PeerResponse {
        match request {
            PeerRequest::AppendEntries { shard, rpc } => match self.shard(shard) {
                Some(s) => PeerResponse::AppendEntries(s.raft.append_entries(rpc).await),
                None => PeerResponse::NoSuchShard(shard),
            },
            // The transport serves these through `stream_append`, in order.
            PeerRequest::StreamAppend { .. } => PeerResponse::StreamAppend(Err(
                "stream appends are served in order by the transport".into(),
            )),
            PeerRequest::Vote { shard, rpc } => match self.shard(shard) {
                Some(s) => PeerResponse::Vote(s.raft.vote(rpc).await),
                None => PeerResponse::NoSuchShard(shard),
            },
            PeerRequest::PreVote { shard, rpc } => match self.shard(shard) {
                Some(s) => PeerResponse::Vote(s.raft.pre_vote(rpc).await),
                None => PeerResponse::NoSuchShard(shard),
            },
            PeerRequest::SnapshotChunk {
                shard,
                vote,
                meta,
                transfer,
                offset,
                last,
                data,
            } => match self.shard(shard) {
                Some(s) => PeerResponse::SnapshotChunk(
                    s.receive_snapshot_chunk(vote, meta, (transfer, offset, last), data)
                        .await,
                ),
                None => PeerResponse::NoSuchShard(shard),
            },
            PeerRequest::Write { shard, ops } => {
                PeerResponse::Outputs(match self.propose(shard, ops).await {
                    Ok(outputs) => Ok(outputs),
                    Err(Proposed::NotLeader(leader, _)) => Err(ForwardError::NotLeader(leader)),
                    Err(Proposed::Unknown(why)) => Err(ForwardError::Unknown(why)),
                    Err(Proposed::Failed(why)) => Err(ForwardError::Failed(why)),
                })
            }
            PeerRequest::Read { shard, ops } => {
                PeerResponse::Outputs(match self.read_local(shard, &ops).await {
                    Ok(outputs) => Ok(outputs),
                    Err(Proposed::NotLeader(leader, _)) => Err(ForwardError::NotLeader(leader)),
                    Err(Proposed::Unknown(why) | Proposed::Failed(why)) => {
                        Err(ForwardError::Failed(why))
                    }
                })
            }
            PeerRequest::Join { node_id, addr } => {
                PeerResponse::Joined(self.add_member(node_id, addr).await)
            }
            PeerRequest::RemoveMember { node_id } => {
                PeerResponse::Removed(self.remove_member(node_id).await)
            }
            PeerRequest::Replicas {
                shard,
                wanted,
                timeout_ms,
            } => PeerResponse::Replicas(
                match self
                    .replicas_here(shard, wanted, Duration::from_millis(timeout_ms))
                    .await
                {
                    Ok(count) => Ok(count),
                    Err(Proposed::NotLeader(leader, _)) => Err(ForwardError::NotLeader(leader)),
                    Err(Proposed::Unknown(why) | Proposed::Failed(why)) => {
                        Err(ForwardError::Failed(why))
                    }
                },
            ),
        }
    }
}
