//! Pause and abort, shared between the engine and whoever drives it (TUI keys, signals).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Control {
    paused: AtomicBool,
    resume: Notify,
    abort: AtomicBool,
    abort_now: Notify,
    running: Mutex<Option<u32>>,
}

impl Control {
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.resume.notify_waiters();
    }

    pub fn toggle_pause(&self) -> bool {
        if self.is_paused() {
            self.resume();
            false
        } else {
            self.pause();
            true
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Waits while paused. Returns true if it had to wait.
    pub async fn wait_while_paused(&self) -> bool {
        let mut waited = false;
        while self.is_paused() {
            waited = true;
            let notified = self.resume.notified();
            if !self.is_paused() {
                break;
            }
            notified.await;
        }
        waited
    }

    /// Asks the engine to kill the running command and fail the step.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        self.abort_now.notify_waiters();
        self.resume();
    }

    pub fn take_abort(&self) -> bool {
        self.abort.swap(false, Ordering::SeqCst)
    }

    pub fn is_aborting(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }

    pub async fn aborted(&self) {
        loop {
            let n = self.abort_now.notified();
            if self.is_aborting() {
                return;
            }
            n.await;
        }
    }

    pub(crate) fn set_running(&self, pid: Option<u32>) {
        if let Ok(mut r) = self.running.lock() {
            *r = pid;
        }
    }

    pub fn running_pid(&self) -> Option<u32> {
        self.running.lock().ok().and_then(|r| *r)
    }
}
