//! Peer authentication: every peer connection opens with a handshake that
//! proves both ends hold the cluster secret, before any frame is read.
//!
//! ```text
//! dialer -> listener  hello:    "ORBP" [version u8 = 2] [node id u64 LE] [dialer nonce 16]
//! listener -> dialer  proof:    [listener nonce 16] [HMAC(secret, "orbit-listener" | dialer nonce | listener nonce) 32]
//! dialer -> listener  proof:    [HMAC(secret, "orbit-dialer" | listener nonce | dialer nonce | node id LE) 32]
//! listener -> dialer  verdict:  [1 = accepted]  (on refusal it closes the connection)
//! ```
//!
//! Each side proves the secret over a nonce the other side chose, so a
//! recorded handshake cannot be replayed, and a dialer learns it reached a
//! member of its own cluster before it sends anything. Messages have fixed
//! lengths, so nothing unauthenticated is parsed beyond them, and the
//! listener gives a handshake [`HANDSHAKE_TIMEOUT`] at most. Frames after
//! the handshake are not signed one by one: the handshake keeps out anyone
//! who can reach the port without the secret, not an attacker on the path
//! (that needs TLS or a private network).

use crate::env::{OsRandom, Random};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const MAGIC: &[u8; 4] = b"ORBP";
/// The peer protocol: 2 since log entries carry ops of command families
/// (`orbit_core::Entry`); nodes of different versions cannot exchange
/// entries, so they refuse each other at the handshake.
const VERSION: u8 = 2;
const NONCE_LEN: usize = 16;
const PROOF_LEN: usize = 32;
const HELLO_LEN: usize = 4 + 1 + 8 + NONCE_LEN;
const ACCEPTED: u8 = 1;
/// How long the listener waits for a dialer to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a node proves and checks: the cluster secret, and its own id.
#[derive(Clone)]
pub struct PeerAuth {
    secret: std::sync::Arc<[u8]>,
    node_id: u64,
    /// Where nonces come from (the node's `NodeEnv::random`).
    random: std::sync::Arc<dyn Random>,
}

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerAuth")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("the peer does not speak Orbit's peer protocol (version {VERSION})")]
    NotOrbit,
    #[error(
        "the peer speaks Orbit's peer protocol version {0}, this node version {VERSION}: \
         every node of a cluster must run a build of the same peer protocol (stop them all, upgrade, restart)"
    )]
    OtherVersion(u8),
    #[error("the peer does not hold this cluster's secret")]
    WrongSecret,
    #[error("the handshake did not finish within {0:?}")]
    Timeout(Duration),
    #[error("i/o during the handshake: {0}")]
    Io(#[from] std::io::Error),
}

fn nonce(random: &dyn Random) -> [u8; NONCE_LEN] {
    let mut out = [0u8; NONCE_LEN];
    out[..8].copy_from_slice(&random.next_u64().to_le_bytes());
    out[8..].copy_from_slice(&random.next_u64().to_le_bytes());
    out
}

impl PeerAuth {
    /// `secret` must not be empty.
    pub fn new(secret: &[u8], node_id: u64) -> PeerAuth {
        assert!(!secret.is_empty(), "a cluster secret is never empty");
        PeerAuth {
            secret: secret.into(),
            node_id,
            random: std::sync::Arc::new(OsRandom),
        }
    }

    /// The same, drawing its nonces from `random`.
    pub fn with_random(self, random: std::sync::Arc<dyn Random>) -> PeerAuth {
        PeerAuth { random, ..self }
    }

    fn proof(&self, parts: &[&[u8]]) -> [u8; PROOF_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, parts: &[&[u8]], proof: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        for part in parts {
            mac.update(part);
        }
        // Constant time.
        mac.verify_slice(proof).is_ok()
    }

    /// The dialer's side, right after connecting.
    pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
    ) -> Result<(), HandshakeError> {
        let dialer_nonce = nonce(&*self.random);
        let mut hello = Vec::with_capacity(HELLO_LEN);
        hello.extend_from_slice(MAGIC);
        hello.push(VERSION);
        hello.extend_from_slice(&self.node_id.to_le_bytes());
        hello.extend_from_slice(&dialer_nonce);
        stream.write_all(&hello).await?;
        stream.flush().await?;
        let mut answer = [0u8; NONCE_LEN + PROOF_LEN];
        stream.read_exact(&mut answer).await?;
        let (listener_nonce, proof) = answer.split_at(NONCE_LEN);
        if !self.verify(&[b"orbit-listener", &dialer_nonce, listener_nonce], proof) {
            return Err(HandshakeError::WrongSecret);
        }
        let id = self.node_id.to_le_bytes();
        let own = self.proof(&[b"orbit-dialer", listener_nonce, &dialer_nonce, &id]);
        stream.write_all(&own).await?;
        stream.flush().await?;
        let mut verdict = [0u8; 1];
        match stream.read_exact(&mut verdict).await {
            Ok(_) if verdict[0] == ACCEPTED => Ok(()),
            Ok(_) => Err(HandshakeError::NotOrbit),
            // The listener closes on a refusal.
            Err(_) => Err(HandshakeError::WrongSecret),
        }
    }

    /// The listener's side, right after accepting: the dialer's node id
    /// once it has proved the secret.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
    ) -> Result<u64, HandshakeError> {
        self.accept_for(stream, HANDSHAKE_TIMEOUT).await
    }

    async fn accept_for<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        timeout: Duration,
    ) -> Result<u64, HandshakeError> {
        match tokio::time::timeout(timeout, self.accept_within(stream)).await {
            Ok(result) => result,
            Err(_) => Err(HandshakeError::Timeout(timeout)),
        }
    }

    async fn accept_within<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
    ) -> Result<u64, HandshakeError> {
        let mut hello = [0u8; HELLO_LEN];
        stream.read_exact(&mut hello).await?;
        if &hello[..4] != MAGIC {
            return Err(HandshakeError::NotOrbit);
        }
        if hello[4] != VERSION {
            return Err(HandshakeError::OtherVersion(hello[4]));
        }
        let id_bytes: [u8; 8] = hello[5..13].try_into().expect("8 bytes");
        let dialer_nonce = &hello[13..];
        let listener_nonce = nonce(&*self.random);
        let mut answer = Vec::with_capacity(NONCE_LEN + PROOF_LEN);
        answer.extend_from_slice(&listener_nonce);
        answer.extend_from_slice(&self.proof(&[b"orbit-listener", dialer_nonce, &listener_nonce]));
        stream.write_all(&answer).await?;
        stream.flush().await?;
        let mut proof = [0u8; PROOF_LEN];
        stream.read_exact(&mut proof).await?;
        if !self.verify(
            &[b"orbit-dialer", &listener_nonce, dialer_nonce, &id_bytes],
            &proof,
        ) {
            return Err(HandshakeError::WrongSecret);
        }
        stream.write_all(&[ACCEPTED]).await?;
        stream.flush().await?;
        Ok(u64::from_le_bytes(id_bytes))
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    async fn handshake(
        dialer: &PeerAuth,
        listener: &PeerAuth,
    ) -> (Result<(), HandshakeError>, Result<u64, HandshakeError>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let dialed = dialer.dial(&mut a);
        let accepted = async {
            let result = listener.accept(&mut b).await;
            drop(b);
            result
        };
        tokio::join!(dialed, accepted)
    }

    #[tokio::test]
    async fn the_same_secret_is_accepted_and_names_the_dialer() {
        // Goal: two nodes with one secret complete the handshake, and the
        // listener learns the dialer's id.
        let (dialed, accepted) = handshake(&PeerAuth::new(b"s", 7), &PeerAuth::new(b"s", 1)).await;
        dialed.expect("dialer accepted");
        assert_eq!(accepted.expect("listener accepts"), 7);
    }

    #[tokio::test]
    async fn another_secret_is_refused_on_both_sides() {
        // Goal: a dialer without the secret is refused by the listener, and
        // a dialer refuses a listener without it.
        let (dialed, accepted) =
            handshake(&PeerAuth::new(b"wrong", 7), &PeerAuth::new(b"right", 1)).await;
        assert!(
            matches!(dialed, Err(HandshakeError::WrongSecret)),
            "{dialed:?}"
        );
        assert!(accepted.is_err(), "{accepted:?}");
    }

    #[tokio::test]
    async fn bytes_that_are_not_a_hello_are_refused() {
        // Goal: a peer frame sent without a handshake (what a forged Join
        // was) is refused before anything is parsed.
        let listener = PeerAuth::new(b"s", 1);
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[
            0x28, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 26, 27, 28, 29,
        ])
        .await
        .expect("write");
        let accepted = listener.accept(&mut b).await;
        assert!(
            matches!(accepted, Err(HandshakeError::NotOrbit)),
            "{accepted:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_of_another_protocol_version_is_refused_by_name() {
        // Goal: a hello of version 1 (a build from before command families)
        // is refused with both versions and what to do, not as garbage.
        let listener = PeerAuth::new(b"s", 1);
        let (mut a, mut b) = tokio::io::duplex(1024);
        let mut hello = b"ORBP".to_vec();
        hello.push(1);
        hello.extend_from_slice(&[0; 8 + NONCE_LEN]);
        a.write_all(&hello).await.expect("write");
        let accepted = listener.accept(&mut b).await;
        assert!(
            matches!(accepted, Err(HandshakeError::OtherVersion(1))),
            "{accepted:?}"
        );
        let text = accepted.expect_err("refused").to_string();
        assert!(text.contains("version 1, this node version 2"), "{text}");
        assert!(text.contains("upgrade"), "{text}");
    }

    #[tokio::test]
    async fn a_silent_dialer_is_dropped_after_the_timeout() {
        // Goal: a connection that never finishes its hello does not hold
        // the listener forever.
        let listener = PeerAuth::new(b"s", 1);
        let (_a, mut b) = tokio::io::duplex(1024);
        let accepted = listener.accept_for(&mut b, Duration::from_millis(50)).await;
        assert!(
            matches!(accepted, Err(HandshakeError::Timeout(_))),
            "{accepted:?}"
        );
    }
}

/// Logs refused peer connections at most once a second, with the number
/// held back, so a flood of bad connections cannot flood the log.
#[derive(Default)]
pub struct RefusalLog {
    state: std::sync::Mutex<(Option<tokio::time::Instant>, u64)>,
}

impl RefusalLog {
    pub fn refused(&self, peer: &str, why: &HandshakeError) {
        let now = tokio::time::Instant::now();
        let mut state = self.state.lock().expect("refusal log lock");
        let (last, held_back) = &mut *state;
        if last.is_none_or(|last| now - last >= Duration::from_secs(1)) {
            tracing::warn!(%peer, error = %why, held_back = *held_back, "refused a peer connection");
            *last = Some(now);
            *held_back = 0;
        } else {
            *held_back += 1;
        }
    }
}
