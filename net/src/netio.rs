//! The socket seam: how a node listens and connects.
//!
//! [`TokioNet`] uses `tokio::net`, which is real TCP in production and
//! madsim's simulated TCP when built with `--cfg madsim` (the `tokio`
//! dependency is `madsim-tokio`). Tests under turmoil supply their own `Net`.
//! Everything above this seam (framing, checksums, RESP) is the code users run.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed, sendable future: what the socket and transport seams return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A connected byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A bound listening socket.
pub trait Listener: Send + 'static {
    /// The next connection and the peer's address.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn Stream>, String)>>;
}

/// Opens sockets.
pub trait Net: Send + Sync + 'static {
    fn bind(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;
    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Stream>>>;
}

/// `tokio::net` (real, or simulated under madsim).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioNet;

struct TokioListener(tokio::net::TcpListener);

impl Listener for TokioListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn Stream>, String)>> {
        Box::pin(async move {
            let (stream, addr) = self.0.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Box::new(stream) as Box<dyn Stream>, addr.to_string()))
        })
    }
}

impl Net for TokioNet {
    fn bind(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            Ok(Box::new(TokioListener(listener)) as Box<dyn Listener>)
        })
    }

    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }
}
