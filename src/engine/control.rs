//! Pause and abort, shared between the engine and whoever drives it (TUI keys, signals).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Control {
    paused: AtomicBool,
    resume: Notify,
    abort: AtomicBool,
    abort_now: Notify,
    /// While this file exists the engine pauses too: the way to pause a headless run.
    pause_file: Option<PathBuf>,
}

impl Control {
    pub fn with_pause_file(path: PathBuf) -> Self {
        Control {
            pause_file: Some(path),
            ..Control::default()
        }
    }

    fn held(&self) -> bool {
        !self.is_aborting()
            && (self.is_paused() || self.pause_file.as_ref().is_some_and(|f| f.exists()))
    }
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.resume.notify_waiters();
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Waits while paused (by [`Control::pause`] or the pause file), calling `on_pause` once
    /// when it starts waiting. Returns true if it had to wait. An abort ends the wait.
    pub async fn wait_while_paused(&self, on_pause: impl Fn()) -> bool {
        let mut waited = false;
        while self.held() {
            if !waited {
                on_pause();
                waited = true;
            }
            let notified = self.resume.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
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

    /// Resolves when an abort is asked for. Once notified it returns even if another
    /// command (on the other host) has already taken the flag.
    pub async fn aborted(&self) {
        let n = self.abort_now.notified();
        if self.is_aborting() {
            return;
        }
        n.await;
    }
}
