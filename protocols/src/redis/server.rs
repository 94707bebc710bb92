//! The RESP listener: accepts connections and runs one session per client.
//!
//! A connection's bytes are decoded incrementally; every complete request is
//! executed in order and replies are written in order (pipelining). Malformed
//! input gets a RESP error and closes only that connection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use orbit_net::netio::{Listener, Stream};
use orbit_net::watch;
use orbit_net::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client_memory::{InputRefused, QueryBuffer, ReplyChunks};
use super::session::{After, Session};
use crate::resp::codec::{encode, Decoder, Frame, Limits};

/// Bytes read from a socket per call, at most.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Bytes read ahead while a pipeline runs, at most: a client that sends
/// faster than its commands run waits in its socket, not in our memory.
const READ_AHEAD_BYTES_MAX: usize = 1024 * 1024;
/// Replies are flushed once this many bytes are pending, at most.
const WRITE_BUFFER_BYTES_MAX: usize = 1024 * 1024;

/// What INFO and CLIENT LIST show about a connection, and how to end it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub addr: String,
    pub name: Vec<u8>,
    pub db: u8,
    pub connected_at: Instant,
    /// When the client's last command started.
    pub last_active: Instant,
    /// Its last command as Redis names it (`set`, `client|list`), if any.
    pub last_cmd: std::borrow::Cow<'static, str>,
    /// The session's state as of its last request (see `Session::publish`).
    pub state: ClientState,
    /// CLIENT KILL notifies it; the connection closes.
    pub kill: Arc<tokio::sync::Notify>,
}

/// What CLIENT LIST shows of a session's own state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientState {
    /// Channels and patterns subscribed.
    pub sub: usize,
    pub psub: usize,
    /// Commands queued since MULTI, or `None` outside MULTI.
    pub multi: Option<usize>,
    /// Waiting in a blocking pop.
    pub blocked: bool,
    /// 2 or 3.
    pub resp: u8,
}

impl ClientState {
    /// Redis's `flags` letters for what Orbit tracks: P pub/sub, x MULTI,
    /// b blocked, N none.
    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.sub + self.psub > 0 {
            flags.push('P');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }
}

/// Settings CONFIG SET may change while the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Redis `requirepass`: `None` when clients need no password.
    pub requirepass: Option<Vec<u8>>,
    pub limits: Limits,
}

/// State shared by every connection of one server.
pub struct Shared {
    pub node: Node,
    settings: Mutex<Settings>,
    hub: Mutex<super::pubsub::Hub>,
    pub resp_addr: String,
    pub started_at: Instant,
    clients: Mutex<BTreeMap<u64, ClientInfo>>,
    next_client_id: AtomicU64,
    pub connections_total: AtomicU64,
    pub commands_total: AtomicU64,
    /// Failed AUTH / HELLO AUTH attempts: counted, logged, in ACL LOG.
    pub auth_failures: super::auth::AuthFailures,
    /// Unparsed input held for every client together (`client_memory`).
    pub query_buffers_bytes: std::sync::atomic::AtomicUsize,
    query_buffers_bytes_max: std::sync::atomic::AtomicUsize,
    /// Clients blocked on keys, woken by the change log (`changes`).
    pub waiters: Arc<super::changes::KeyWaiters>,
}

impl Shared {
    pub fn new(node: Node, limits: Limits, resp_addr: String) -> Arc<Shared> {
        Arc::new(Shared {
            node,
            settings: Mutex::new(Settings {
                requirepass: None,
                limits,
            }),
            hub: Mutex::new(super::pubsub::Hub::default()),
            resp_addr,
            started_at: Instant::now(),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            connections_total: AtomicU64::new(0),
            commands_total: AtomicU64::new(0),
            auth_failures: super::auth::AuthFailures::default(),
            query_buffers_bytes: std::sync::atomic::AtomicUsize::new(0),
            query_buffers_bytes_max: std::sync::atomic::AtomicUsize::new(
                super::client_memory::QUERY_BUFFERS_BYTES_MAX_DEFAULT,
            ),
            waiters: Arc::default(),
        })
    }

    /// The most unparsed input all clients together may hold.
    pub fn query_buffers_bytes_max(&self) -> usize {
        self.query_buffers_bytes_max.load(Ordering::Relaxed)
    }

    pub fn set_query_buffers_bytes_max(&self, bytes: usize) {
        self.query_buffers_bytes_max.store(bytes, Ordering::Relaxed);
    }

    pub fn with_hub<R>(&self, f: impl FnOnce(&mut super::pubsub::Hub) -> R) -> R {
        f(&mut self.hub.lock().expect("pub/sub hub lock"))
    }

    /// The protocol limits alone (read per request batch, so no copy of
    /// the rest).
    pub fn limits(&self) -> Limits {
        self.settings.lock().expect("settings lock").limits
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().expect("settings lock").clone()
    }

    pub fn change_settings(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.settings.lock().expect("settings lock"));
    }

    /// CLIENT KILL: closes the connections `matches` selects (never `skip`);
    /// returns how many.
    pub fn kill_clients(
        &self,
        skip: Option<u64>,
        matches: impl Fn(u64, &ClientInfo) -> bool,
    ) -> usize {
        let clients = self.clients();
        let mut killed = 0;
        for (id, client) in clients.iter() {
            if Some(*id) != skip && matches(*id, client) {
                client.kill.notify_one();
                killed += 1;
            }
        }
        killed
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, ClientInfo>> {
        self.clients.lock().expect("client registry lock")
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.connections_total.store(0, Ordering::Relaxed);
        self.commands_total.store(0, Ordering::Relaxed);
        self.auth_failures.reset_total();
    }

    /// A command was received (INFO's `total_commands_processed`).
    pub fn count_command(&self) {
        self.commands_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn update_client(&self, id: u64, change: impl FnOnce(&mut ClientInfo)) {
        if let Some(client) = self.clients().get_mut(&id) {
            change(client);
        }
    }

    pub fn client_name(&self, id: u64) -> Option<Vec<u8>> {
        self.clients().get(&id).map(|c| c.name.clone())
    }

    pub fn client_count(&self) -> usize {
        self.clients().len()
    }

    /// One CLIENT LIST line, with Redis 7.0's fields in Redis's order, for
    /// the fields Orbit tracks (no fd, buffer or memory fields).
    fn line(id: u64, client: &ClientInfo) -> String {
        let state = &client.state;
        format!(
            "id={id} addr={} name={} age={} idle={} flags={} db={} sub={} psub={} multi={} cmd={} user=default resp={}\n",
            client.addr,
            String::from_utf8_lossy(&client.name),
            client.connected_at.elapsed().as_secs(),
            client.last_active.elapsed().as_secs(),
            state.flags(),
            client.db,
            state.sub,
            state.psub,
            state.multi.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
            if client.last_cmd.is_empty() { "NULL" } else { &client.last_cmd },
            state.resp,
        )
    }

    pub fn client_line(&self, id: u64) -> String {
        self.clients()
            .get(&id)
            .map(|c| Shared::line(id, c))
            .unwrap_or_default()
    }

    /// CLIENT LIST, of the clients `keep` accepts.
    pub fn client_list(&self, keep: impl Fn(u64, &ClientInfo) -> bool) -> String {
        self.clients()
            .iter()
            .filter(|(id, c)| keep(**id, c))
            .map(|(id, c)| Shared::line(*id, c))
            .collect()
    }
}

/// Serves RESP clients on `listener` until `shutdown` turns true.
pub async fn serve(
    mut listener: Box<dyn Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    for shard in shared.node.shard_ids() {
        tokio::spawn(super::changes::follow(
            shared.clone(),
            shard,
            shutdown.clone(),
        ));
    }
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, addr)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
                    shared.connections_total.fetch_add(1, Ordering::Relaxed);
                    let kill = Arc::new(tokio::sync::Notify::new());
                    let info = ClientInfo {
                        addr,
                        name: Vec::new(),
                        db: 0,
                        connected_at: Instant::now(),
                        last_active: Instant::now(),
                        last_cmd: std::borrow::Cow::Borrowed(""),
                        state: ClientState {
                            resp: 2,
                            ..ClientState::default()
                        },
                        kill: kill.clone(),
                    };
                    shared.clients().insert(id, info);
                    let session = Session::new(id, shared.clone());
                    if let Err(e) = run_connection(stream, session, kill).await {
                        tracing::debug!(client = id, error = %e, "connection ended with an error");
                    }
                    shared.clients().remove(&id);
                    shared.with_hub(|hub| hub.forget(id));
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a client failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

async fn run_connection(
    stream: Box<dyn Stream>,
    mut session: Session,
    kill: Arc<tokio::sync::Notify>,
) -> std::io::Result<()> {
    // Halves, so that input is read while replies are written: a client
    // that sends a long pipeline before it reads would otherwise deadlock
    // with us, each waiting for the other to read.
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = Decoder::new(session.limits());
    let (closed_tx, closed_rx) = watch::channel(false);
    session.set_peer_closed(closed_rx);
    let mut input = Input {
        buf: QueryBuffer::new(session.shared().clone()),
        scratch: vec![0u8; READ_CHUNK_BYTES],
        peer_closed: false,
        arrived: false,
        refused: None,
        closed_tx,
    };
    let mut out: Vec<u8> = Vec::new();
    let mut chunks = ReplyChunks::default();
    // One wait for CLIENT KILL for the whole connection, polled by both
    // selects below: a fresh `notified()` per request registered and
    // unregistered a waiter each time (2% of a leader's CPU under GET).
    let killed = kill.notified();
    tokio::pin!(killed);
    loop {
        // Every complete request already received runs, in chunks whose
        // replies are written before the next chunk runs; a malformed one
        // ends the connection after the replies to those before it.
        decoder.set_limits(session.limits());
        let (mut requests, malformed) = decode_all(&mut decoder, &mut input.buf);
        input.arrived = false;
        while !requests.is_empty() {
            let take = chunks.next_len().min(requests.len());
            let chunk: Vec<_> = requests.drain(..take).collect();
            let mut replies = Vec::new();
            let after = {
                let dispatch = session.dispatch_all(chunk, &mut replies);
                tokio::pin!(dispatch);
                // While the requests run, keep reading: a blocked client
                // (BLPOP ...) must notice CLIENT KILL and a closed socket.
                // A closed socket stops blocked commands only; as in
                // Redis, every request already received runs.
                loop {
                    tokio::select! {
                        biased;
                        _ = &mut killed => return Ok(()),
                        after = &mut dispatch => break after,
                        read = reader.read(&mut input.scratch), if input.may_read_ahead() => input.take(read),
                    }
                }
            };
            let mut reply_bytes = 0;
            for reply in replies.drain(..) {
                encode(&reply, session.protocol, &mut out);
                if out.len() >= WRITE_BUFFER_BYTES_MAX {
                    reply_bytes += out.len();
                    send_reading(&mut writer, &mut reader, &out, &mut input, killed.as_mut())
                        .await?;
                    out.clear();
                }
            }
            reply_bytes += out.len();
            chunks.observe(take, reply_bytes);
            send_reading(&mut writer, &mut reader, &out, &mut input, killed.as_mut()).await?;
            out.clear();
            if after == After::Close {
                return Ok(());
            }
        }
        let closing = malformed.or_else(|| input.refused.map(|why| why.message().to_string()));
        if let Some(message) = closing {
            encode(
                &Frame::Error(message.into_bytes()),
                session.protocol,
                &mut out,
            );
            send(&mut writer, &out).await?;
            return Ok(());
        }
        if input.arrived {
            // Requests came in while these ran: decode them before waiting
            // for more.
            continue;
        }
        if input.peer_closed {
            // Everything received has run; the client is gone.
            return Ok(());
        }
        let read = tokio::select! {
            biased;
            _ = &mut killed => return Ok(()),
            delivery = session.next_delivery() => {
                encode(&delivery.frame(session.protocol), session.protocol, &mut out);
                // A subscriber that stopped reading is disconnected by the
                // hub (its queue is full): the kill must end this write.
                tokio::select! {
                    biased;
                    _ = &mut killed => return Ok(()),
                    sent = send(&mut writer, &out) => sent?,
                }
                out.clear();
                continue;
            }
            read = reader.read(&mut input.scratch) => read?,
        };
        if read == 0 {
            return Ok(());
        }
        if let Err(why) = input.buf.extend(&input.scratch[..read]) {
            input.refused = Some(why);
        }
    }
}

/// A connection's input side: what it has read and not yet parsed.
struct Input {
    buf: QueryBuffer,
    /// Read into, zeroed once per connection: growing `buf` by a zeroed
    /// chunk per read cost a 64 KiB memset per request.
    scratch: Vec<u8>,
    peer_closed: bool,
    /// Bytes came in while requests ran.
    arrived: bool,
    /// Input was refused: the connection closes once what ran is answered.
    refused: Option<InputRefused>,
    closed_tx: watch::Sender<bool>,
}

impl Input {
    /// Read ahead while requests run, up to a bound: a client that sends
    /// faster than its commands run waits in its socket, not in memory.
    fn may_read_ahead(&self) -> bool {
        !self.peer_closed && self.refused.is_none() && self.buf.len() < READ_AHEAD_BYTES_MAX
    }

    /// While replies are written, input is read up to the query buffer
    /// limits.
    fn may_read_while_sending(&self) -> bool {
        !self.peer_closed && self.refused.is_none()
    }

    fn take(&mut self, read: std::io::Result<usize>) {
        match read {
            Ok(0) | Err(_) => {
                self.peer_closed = true;
                let _ = self.closed_tx.send(true);
            }
            Ok(n) => match self.buf.extend(&self.scratch[..n]) {
                Ok(()) => self.arrived = true,
                Err(why) => self.refused = Some(why),
            },
        }
    }
}

/// Every complete request at the front of `buf` (which gives them up),
/// and the message of a malformed one after them, if any.
fn decode_all(decoder: &mut Decoder, buf: &mut QueryBuffer) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
    let mut start = 0usize;
    let mut requests = Vec::new();
    let mut malformed = None;
    loop {
        match decoder.decode(&buf.as_slice()[start..]) {
            Ok(Some((args, used))) => {
                start += used;
                if !args.is_empty() {
                    requests.push(args);
                }
            }
            Ok(None) => break,
            Err(e) => {
                malformed = Some(e.message());
                break;
            }
        }
    }
    buf.consume(start);
    (requests, malformed)
}

type Reader = tokio::io::ReadHalf<Box<dyn Stream>>;
type Writer = tokio::io::WriteHalf<Box<dyn Stream>>;

/// Writes `bytes` and flushes (a simulated socket sends on flush).
async fn send(writer: &mut Writer, bytes: &[u8]) -> std::io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

/// `send`, reading the client's input meanwhile (bounded by its query
/// buffer limits), so a client that writes its whole pipeline before it
/// reads is not left waiting for us while we wait for it.
async fn send_reading(
    writer: &mut Writer,
    reader: &mut Reader,
    bytes: &[u8],
    input: &mut Input,
    mut killed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
) -> std::io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        tokio::select! {
            biased;
            // CLIENT KILL ends a client that stopped reading its replies.
            _ = &mut killed => return Err(std::io::ErrorKind::ConnectionAborted.into()),
            written = writer.write(&bytes[sent..]) => match written? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => sent += n,
            },
            read = reader.read(&mut input.scratch), if input.may_read_while_sending() => input.take(read),
        }
    }
    writer.flush().await
}
