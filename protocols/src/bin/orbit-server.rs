//! `orbit-server`: one Orbit node. Starts Raft, the peer listener and the
//! RESP listener; stops cleanly on SIGTERM or Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use orbit_net::{Net, TokioNet};
use orbit_net::{Node, NodeEnv};
use orbit_protocols::config::{Flags, ServerConfig};
use orbit_protocols::identity;
use orbit_protocols::redis::server::{serve, Shared};
use orbit_protocols::resp::codec::Limits;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut config = ServerConfig::resolve(Flags::parse()).map_err(|e| anyhow::anyhow!(e))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log).context("bad --log filter")?,
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data_dir = config.node.data_dir.clone();
    if config.node.cluster_secret.is_empty() {
        // A lone node (resolve refuses any other without a secret).
        config.node.cluster_secret =
            identity::stored_secret(&data_dir).map_err(|e| anyhow::anyhow!(e))?;
    }
    identity::check_or_record(&data_dir, config.node.node_id, &config.node.cluster_secret)
        .map_err(|e| anyhow::anyhow!(e))?;
    // One thread: tokio's single-thread scheduler, leaner than the
    // multi-thread one with one worker (docs/OPERATIONS.md, `--threads`).
    let mut builder = if config.threads == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if let Some(threads) = config.threads.filter(|&t| t > 1) {
        builder.worker_threads(threads);
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(run(config))
}

async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let resp_listener = TokioNet
        .bind(config.resp_addr.clone())
        .await
        .with_context(|| format!("cannot listen for Redis clients on {}", config.resp_addr))?;
    let node = Node::start(config.node.clone(), NodeEnv::production(&config.node))
        .await
        .context("cannot start the node")?;
    tracing::info!(
        node_id = node.id(),
        resp = %config.resp_addr,
        raft = %config.node.raft_addr,
        data = %config.node.data_dir.display(),
        "orbit-server started"
    );
    if let Some(seed) = &config.join {
        let already = node
            .status()
            .await
            .iter()
            .any(|s| s.members.contains(&node.id()));
        if !already {
            node.join(seed, Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!("join through {seed} failed: {e}"))?;
            tracing::info!(seed = %seed, "joined the cluster");
        }
    }
    let limits = Limits {
        bulk_len_max: config.proto_max_bulk_len,
        ..Limits::DEFAULT
    };
    let shared = Shared::new(node.clone(), limits, config.resp_addr.clone());
    shared.set_query_buffers_bytes_max(config.client_query_buffers_max);
    let requirepass = config.requirepass.clone().map(String::into_bytes);
    shared.change_settings(|settings| settings.requirepass = requirepass);
    let (shutdown_tx, shutdown_rx) = orbit_net::watch::channel(false);
    let server = tokio::spawn(serve(resp_listener, shared, shutdown_rx));
    let stop = wait_for_stop(&node).await?;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = server.await;
    node.shutdown().await;
    if let Stop::Fatal(why) = stop {
        // Fail-stop: a node whose storage failed exits, so a supervisor
        // sees it and restarts it, rather than answering PING forever.
        tracing::error!(error = %why, "storage failed: the node stops; restart it once the disk is healthy (acknowledged writes are on disk)");
        eprintln!("orbit-server: storage failed, exiting: {why}");
        std::process::exit(EXIT_STORAGE_FAILED);
    }
    tracing::info!("stopped");
    Ok(())
}

/// The exit status after a storage failure (EX_IOERR).
const EXIT_STORAGE_FAILED: i32 = 74;

enum Stop {
    Signal,
    Fatal(String),
}

/// Waits for SIGTERM, Ctrl-C or a fatal storage error in the node.
async fn wait_for_stop(node: &Node) -> anyhow::Result<Stop> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    // A file grown past RLIMIT_FSIZE would kill the process with SIGXFSZ
    // before the write could fail; handled here, it becomes an I/O error
    // (EFBIG) that takes the fail-stop path like a full disk.
    let mut file_too_large = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
    loop {
        tokio::select! {
            biased;
            _ = term.recv() => return Ok(Stop::Signal),
            _ = tokio::signal::ctrl_c() => return Ok(Stop::Signal),
            why = node.fatal_error() => return Ok(Stop::Fatal(why)),
            _ = file_too_large.recv() => tracing::warn!("a write passed the file size limit"),
        }
    }
}
