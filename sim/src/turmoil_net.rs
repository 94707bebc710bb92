//! The production node's seams over turmoil: [`TurmoilNet`] opens turmoil's
//! simulated TCP sockets and [`TurmoilClock`] reads turmoil's simulated time.
//!
//! With these two, the code users run (the peer transport with its framing
//! and checksums, openraft, the fjall state store, the RESP server) runs
//! unchanged inside a turmoil `Sim`, compiled without `cfg(madsim)`. Both may
//! be used only from inside a turmoil host or client: turmoil's sockets panic
//! elsewhere.
//!
//! Invariants:
//! - A node's address is `host:port`. Turmoil binds only the unspecified or
//!   loopback address, so [`TurmoilNet::bind`] listens on `0.0.0.0:port`;
//!   peers reach it as `host:port` through turmoil's DNS. IPv4 only (turmoil's
//!   default).
//! - A refused or unroutable connect fails at once with an `io::Error`, which
//!   the transport maps to "unreachable"; nothing retries inside this module.
//! - [`TurmoilClock`] never goes backwards, also across a host's restart:
//!   simulated time is global to the `Sim`, not per runtime.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use orbit_net::netio::{Listener, Net, Stream};
use orbit_net::transport::BoxFuture;
use orbit_net::Clock;

/// Sockets from `turmoil::net`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TurmoilNet;

struct TurmoilListener(turmoil::net::TcpListener);

impl Listener for TurmoilListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn Stream>, String)>> {
        Box::pin(async move {
            let (stream, peer) = self.0.accept().await?;
            Ok((Box::new(stream) as Box<dyn Stream>, peer.to_string()))
        })
    }
}

/// The address to listen on for `addr` (`host:port`, `ip:port` or `:port`):
/// the port on `0.0.0.0`, unless `addr` already names an address turmoil
/// can bind.
fn bind_addr(addr: &str) -> io::Result<SocketAddr> {
    if let Ok(parsed) = addr.parse::<SocketAddr>() {
        if parsed.ip().is_unspecified() || parsed.ip().is_loopback() {
            return Ok(parsed);
        }
    }
    let port = addr
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr:?} is not host:port"),
            )
        })?;
    Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
}

impl Net for TurmoilNet {
    fn bind(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let listener = turmoil::net::TcpListener::bind(bind_addr(&addr)?).await?;
            Ok(Box::new(TurmoilListener(listener)) as Box<dyn Listener>)
        })
    }

    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect(addr.as_str()).await?;
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }
}

/// Milliseconds since the Unix epoch at simulated time zero. Fixed, so that
/// two runs stamp the same entries with the same times.
pub const TURMOIL_EPOCH_MS: u64 = 1_700_000_000_000;

/// Simulated wall-clock time: [`TURMOIL_EPOCH_MS`] plus the time the `Sim`
/// has run (`turmoil::sim_elapsed`), whichever host asks.
#[derive(Debug, Default)]
pub struct TurmoilClock {
    /// The latest time read; returned if the clock is read outside any
    /// host's turn (no simulated "now" exists there).
    last_ms: AtomicU64,
}

impl Clock for TurmoilClock {
    fn now_ms(&self) -> u64 {
        match turmoil::sim_elapsed() {
            Some(elapsed) => {
                let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                let now_ms = TURMOIL_EPOCH_MS.saturating_add(elapsed_ms);
                let previous_ms = self.last_ms.fetch_max(now_ms, Ordering::SeqCst);
                now_ms.max(previous_ms)
            }
            None => self.last_ms.load(Ordering::SeqCst).max(TURMOIL_EPOCH_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addr_keeps_the_port_and_listens_everywhere() {
        let any = |port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        assert_eq!(bind_addr("n1:7000").expect("host:port"), any(7000));
        assert_eq!(bind_addr("10.0.0.3:7000").expect("ip:port"), any(7000));
        assert_eq!(bind_addr("0.0.0.0:6379").expect("any"), any(6379));
        assert_eq!(
            bind_addr("127.0.0.1:1").expect("loopback"),
            SocketAddr::from((Ipv4Addr::LOCALHOST, 1))
        );
        assert!(bind_addr("n1").is_err());
        assert!(bind_addr("n1:port").is_err());
    }

    #[test]
    fn clock_outside_a_simulation_holds_its_last_reading() {
        let clock = TurmoilClock::default();
        assert_eq!(clock.now_ms(), TURMOIL_EPOCH_MS);
        clock.last_ms.store(TURMOIL_EPOCH_MS + 5, Ordering::SeqCst);
        assert_eq!(clock.now_ms(), TURMOIL_EPOCH_MS + 5);
    }
}
