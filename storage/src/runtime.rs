//! openraft's `AsyncRuntime` over madsim, compiled only for the simulator
//! (`--cfg madsim`). Spawn, sleep and timeouts use simulated time; the
//! "thread-local" rng is madsim's seeded global rng, so one seed decides every
//! election timeout. Production uses openraft's `TokioRuntime` instead.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use openraft_rt::{AsyncRuntime, OptionalSend};
use openraft_rt_tokio::{TokioInstant, TokioMpsc, TokioMutex, TokioOneshot};

/// openraft's runtime in the simulator. The instance (only for
/// `AsyncRuntime::new` / `block_on`, which openraft's own test helpers use)
/// holds a madsim runtime; openraft itself uses the associated functions,
/// which run on whatever madsim runtime is current.
pub struct MadsimRuntime {
    rt: madsim::runtime::Runtime,
}

impl fmt::Debug for MadsimRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MadsimRuntime").finish()
    }
}

/// madsim's seeded global rng, as a rand 0.10 generator: every draw
/// openraft makes (election timeouts, tick jitter) comes from the seed.
pub struct SeededRng(madsim::rand::GlobalRng);

impl rand_core::TryRng for SeededRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(madsim::rand::RngCore::next_u32(&mut self.0))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(madsim::rand::RngCore::next_u64(&mut self.0))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        madsim::rand::RngCore::fill_bytes(&mut self.0, dst);
        Ok(())
    }
}

/// How long from now until `deadline`. openraft's instants are tokio's,
/// whose clock is madsim's in the simulator, so this is simulated time (which
/// does not move while a task runs).
fn until(deadline: TokioInstant) -> Duration {
    openraft_rt::Instant::saturating_duration_since(&deadline, openraft_rt::Instant::now())
}

/// A timeout elapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

pin_project_lite::pin_project! {
    /// A future bounded by a simulated deadline.
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: madsim::time::Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(value) = this.future.poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A display wrapper: madsim's `JoinError` has no `Display`.
#[derive(Debug)]
pub struct JoinError(pub madsim::task::JoinError);

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

pin_project_lite::pin_project! {
    pub struct JoinHandle<T> {
        #[pin]
        inner: madsim::task::JoinHandle<T>,
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.map_err(JoinError))
    }
}

impl AsyncRuntime for MadsimRuntime {
    type JoinError = JoinError;
    type JoinHandle<T: OptionalSend + 'static> = JoinHandle<T>;
    type Sleep = madsim::time::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    type ThreadLocalRng = SeededRng;
    type Mpsc = TokioMpsc;
    type Watch = crate::raft_watch::OrderedWatch;
    type Oneshot = TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = TokioMutex<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        JoinHandle {
            inner: madsim::task::spawn(future),
        }
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        madsim::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        madsim::time::sleep(until(deadline))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future,
            sleep: madsim::time::sleep(duration),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future,
            sleep: madsim::time::sleep(until(deadline)),
        }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.0.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        SeededRng(madsim::rand::thread_rng())
    }

    fn new(_threads: usize) -> Self {
        MadsimRuntime {
            rt: madsim::runtime::Runtime::new(),
        }
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.rt.block_on(future)
    }
}
