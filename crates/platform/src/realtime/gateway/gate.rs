//! A gate in front of futures that are rarely ready: they are polled only after one of them has
//! woken the task (or the gate was opened by hand), not every time the task wakes for something
//! else.

use futures::task::AtomicWaker;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// Lets a connection's rare wake-ups (its session ended, an audit, its token timers, the
/// heartbeat) be polled only after one of them has woken the task. Polled on every wake-up, as
/// they were, they took two locks and three timer checks for each delivery: 7 % of the server's
/// samples in an overloaded fan-out (`docs/benchmarks.md`, twentieth session). They are polled
/// with the gate's own waker, which opens the gate before it wakes the task. The rule for its
/// user: whatever changes which of them count, drops one's registration (a timer reset, one
/// that fired) or leaves one not yet polled must call [`Gate::open`].
pub(super) struct Gate {
    flag: Arc<GateFlag>,
    waker: Waker,
}

struct GateFlag {
    open: AtomicBool,
    task: AtomicWaker,
}

impl Wake for GateFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Opened before the task is woken: woken first, it could look and find it closed.
        self.open.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Gate {
    /// Open at first: every wake-up must be polled once to be registered.
    pub(super) fn new() -> Self {
        let flag = Arc::new(GateFlag { open: AtomicBool::new(true), task: AtomicWaker::new() });
        Gate { waker: Waker::from(flag.clone()), flag }
    }

    /// Makes the next look poll every wake-up: after one was ready (the others will not wake
    /// the task again), after a timer was reset, and after a client frame, which may change
    /// which of them count.
    pub(super) fn open(&self) {
        self.flag.open.store(true, Ordering::Relaxed);
    }

    /// `poll` run with the gate's waker if the gate is open (closing it), pending otherwise.
    pub(super) fn poll_if_open<'a, T>(
        &'a self,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T> + 'a,
    ) -> impl Future<Output = T> + 'a {
        std::future::poll_fn(move |cx| {
            // Registered before the flag is read: a wake-up in between is not lost.
            self.flag.task.register(cx.waker());
            if !self.flag.open.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            poll(&mut Context::from_waker(&self.waker))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    /// A task that counts its wake-ups.
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_closed_gate_polls_nothing_until_a_wake_up_through_it_or_open() {
        let gate = Gate::new();
        let task = Arc::new(Task(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let polls = AtomicUsize::new(0);
        let registered: Mutex<Option<Waker>> = Mutex::new(None);
        let mut look = Box::pin(gate.poll_if_open(|cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            *registered.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        let polled = || polls.load(Ordering::SeqCst);

        // Open at first, so that every wake-up is registered once.
        assert!(look.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polled(), 1);
        // Then closed: the task's other wake-ups do not poll what is behind the gate.
        assert!(look.as_mut().poll(&mut cx).is_pending());
        assert!(look.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polled(), 1);
        assert_eq!(task.0.load(Ordering::SeqCst), 0);

        // A wake-up through the gate's waker wakes the task and opens the gate for one look.
        registered.lock().unwrap().take().expect("polled with the gate's waker").wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert!(look.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polled(), 2);
        assert!(look.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polled(), 2);

        // Opened by hand (a timer reset, a client frame): looked at once more.
        gate.open();
        assert!(look.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polled(), 3);
    }

    #[test]
    fn a_wake_up_through_the_gate_wakes_the_task_s_latest_waker() {
        let gate = Gate::new();
        let first = Arc::new(Task(AtomicUsize::new(0)));
        let second = Arc::new(Task(AtomicUsize::new(0)));
        let registered: Mutex<Option<Waker>> = Mutex::new(None);
        let mut look = Box::pin(gate.poll_if_open(|cx| {
            *registered.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        let waker = Waker::from(first.clone());
        assert!(look.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        // The task moved (a new waker), then the wake-up came: the new waker is woken.
        let waker = Waker::from(second.clone());
        assert!(look.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        registered.lock().unwrap().take().unwrap().wake();
        assert_eq!((first.0.load(Ordering::SeqCst), second.0.load(Ordering::SeqCst)), (0, 1));
    }
}
