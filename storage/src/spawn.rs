//! The seam for work that runs on its own (the log's flusher): a thread in
//! production, where it blocks in fsync; a task in the simulator, whose
//! disks do not block and where threads are not allowed. The node hands
//! its `Spawner` down from `NodeEnv`, so nothing here forks on the build.

use std::future::Future;
use std::io;
use std::pin::Pin;

/// Work that runs to its end on its own.
pub type Work = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Spawner: Send + Sync + 'static {
    /// Starts `work`; `name` names the thread, where there is one.
    fn spawn_worker(&self, name: &str, work: Work) -> io::Result<()>;
}

/// Production: a thread per worker, which drives its work with a
/// single-thread tokio runtime of its own (so the work may block).
pub struct ThreadSpawner;

impl Spawner for ThreadSpawner {
    fn spawn_worker(&self, name: &str, work: Work) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || runtime.block_on(work))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_worker_runs_its_work_to_the_end() {
        // Goal: the work runs on a thread with the given name and may await
        // tokio's channels there.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        ThreadSpawner
            .spawn_worker(
                "orbit-test-worker",
                Box::pin(async move {
                    let mut sum = 0;
                    while let Some(n) = rx.recv().await {
                        sum += n;
                    }
                    let name = std::thread::current().name().map(str::to_string);
                    done_tx.send((sum, name)).expect("report");
                }),
            )
            .expect("spawn");
        for n in 1..=3 {
            tx.blocking_send(n).expect("send");
        }
        drop(tx);
        let (sum, name) = done_rx.recv().expect("done");
        assert_eq!(sum, 6);
        assert_eq!(name.as_deref(), Some("orbit-test-worker"));
    }
}
