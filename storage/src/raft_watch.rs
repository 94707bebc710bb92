//! openraft's `Watch` over [`crate::watch`]: what openraft uses for its
//! metrics and waits in the simulator, where tokio's watch would wake
//! waiters in an order drawn from process-wide state (see `crate::watch`).
//! Production keeps openraft's tokio runtime with tokio's watch.

use openraft_rt::watch::{RecvError, SendError, Watch, WatchReceiver, WatchSender};
use openraft_rt::{OptionalSend, OptionalSync};

use crate::watch;

/// [`crate::watch`] as an openraft `Watch`.
pub struct OrderedWatch;

pub struct OrderedSender<T>(watch::Sender<T>);

pub struct OrderedReceiver<T>(watch::Receiver<T>);

impl<T> Clone for OrderedSender<T> {
    fn clone(&self) -> Self {
        OrderedSender(self.0.clone())
    }
}

impl<T> Clone for OrderedReceiver<T> {
    fn clone(&self) -> Self {
        OrderedReceiver(self.0.clone())
    }
}

impl Watch for OrderedWatch {
    type Sender<T: OptionalSend + OptionalSync> = OrderedSender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = OrderedReceiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = watch::Ref<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let (tx, rx) = watch::channel(init);
        (OrderedSender(tx), OrderedReceiver(rx))
    }
}

impl<T: OptionalSend + OptionalSync> WatchSender<OrderedWatch, T> for OrderedSender<T> {
    fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.0.send(value).map_err(SendError)
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        self.0.send_if_modified(modify)
    }

    fn borrow_watched(&self) -> watch::Ref<'_, T> {
        self.0.borrow()
    }

    fn subscribe(&self) -> OrderedReceiver<T> {
        OrderedReceiver(self.0.subscribe())
    }
}

impl<T: OptionalSend + OptionalSync> WatchReceiver<OrderedWatch, T> for OrderedReceiver<T> {
    async fn changed(&mut self) -> Result<(), RecvError> {
        self.0
            .changed()
            .await
            .map_err(|watch::Closed| RecvError(()))
    }

    fn borrow_watched(&self) -> watch::Ref<'_, T> {
        self.0.borrow()
    }

    fn borrow_and_update(&mut self) -> watch::Ref<'_, T> {
        self.0.borrow_and_update()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Duration;

    use openraft_rt::testing::Suite;
    use openraft_rt::AsyncRuntime;
    use openraft_rt_tokio::TokioRuntime;

    use super::OrderedWatch;

    /// openraft's tokio runtime with [`OrderedWatch`] in place of tokio's
    /// watch, to run openraft's own conformance cases for a watch.
    #[derive(Debug)]
    struct TokioWithOrderedWatch(TokioRuntime);

    type Tokio = TokioRuntime;

    impl AsyncRuntime for TokioWithOrderedWatch {
        type JoinError = <Tokio as AsyncRuntime>::JoinError;
        type JoinHandle<T: openraft_rt::OptionalSend + 'static> =
            <Tokio as AsyncRuntime>::JoinHandle<T>;
        type Sleep = <Tokio as AsyncRuntime>::Sleep;
        type Instant = <Tokio as AsyncRuntime>::Instant;
        type TimeoutError = <Tokio as AsyncRuntime>::TimeoutError;
        type Timeout<R, T: Future<Output = R> + openraft_rt::OptionalSend> =
            <Tokio as AsyncRuntime>::Timeout<R, T>;
        type ThreadLocalRng = <Tokio as AsyncRuntime>::ThreadLocalRng;
        type Mpsc = <Tokio as AsyncRuntime>::Mpsc;
        type Watch = OrderedWatch;
        type Oneshot = <Tokio as AsyncRuntime>::Oneshot;
        type Mutex<T: openraft_rt::OptionalSend + 'static> = <Tokio as AsyncRuntime>::Mutex<T>;

        fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
        where
            T: Future + openraft_rt::OptionalSend + 'static,
            T::Output: openraft_rt::OptionalSend + 'static,
        {
            Tokio::spawn(future)
        }

        fn sleep(duration: Duration) -> Self::Sleep {
            Tokio::sleep(duration)
        }

        fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
            Tokio::sleep_until(deadline)
        }

        fn timeout<R, F: Future<Output = R> + openraft_rt::OptionalSend>(
            duration: Duration,
            future: F,
        ) -> Self::Timeout<R, F> {
            Tokio::timeout(duration, future)
        }

        fn timeout_at<R, F: Future<Output = R> + openraft_rt::OptionalSend>(
            deadline: Self::Instant,
            future: F,
        ) -> Self::Timeout<R, F> {
            Tokio::timeout_at(deadline, future)
        }

        fn is_panic(join_error: &Self::JoinError) -> bool {
            Tokio::is_panic(join_error)
        }

        fn thread_rng() -> Self::ThreadLocalRng {
            Tokio::thread_rng()
        }

        fn new(threads: usize) -> Self {
            TokioWithOrderedWatch(Tokio::new(threads))
        }

        fn block_on<F, T>(&mut self, future: F) -> T
        where
            F: Future<Output = T>,
        {
            self.0.block_on(future)
        }
    }

    #[test]
    fn openraft_s_watch_cases_pass() {
        // Goal: the ordered watch behaves as openraft expects of any runtime's
        // watch (openraft-rt's own conformance cases).
        type Cases = Suite<TokioWithOrderedWatch>;
        let mut rt = TokioWithOrderedWatch::new(1);
        rt.block_on(async {
            Cases::test_watch_init_value().await;
            Cases::test_watch_overwrite_init_value().await;
            Cases::test_watch_send_error_no_receiver().await;
            Cases::test_watch_send_if_modified().await;
            Cases::test_watch_wait_until_ge().await;
            Cases::test_watch_wait_until().await;
            Cases::test_watch_changed_marks_as_seen().await;
            Cases::test_watch_borrow_and_update_marks_seen().await;
            Cases::test_watch_changed_returns_immediately_when_unseen().await;
            Cases::test_watch_multiple_borrow_then_changed().await;
            Cases::test_watch_wait_loop_pattern().await;
            Cases::test_watch_multiple_receivers().await;
            Cases::test_watch_subscribe().await;
            Cases::test_watch_send_if_different().await;
            Cases::test_watch_send_if_greater().await;
        });
    }
}
