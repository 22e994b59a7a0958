//! The one sequencer: which step runs next, what is asked first, where a run stops. The
//! headless `apply` and the wizard's "run all" are two drivers of it; they answer its
//! questions and show what it tells them, and never order steps themselves.

use async_trait::async_trait;

use super::{Engine, Role, StepId, StepResult, StepState};
use crate::config::Setup;

/// What a step will do, shown before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub step: StepId,
    pub what: String,
    pub why: String,
    /// The commands that change the hosts, per host, in order (a dry run), or why there
    /// are none to show.
    pub commands: Result<Vec<(Role, String)>, String>,
}

/// A driver's answer to a preview.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Run,
    Stop,
    /// Run with this setup instead (a network chosen after seeing the hosts): the step is
    /// previewed and asked again.
    Change(Box<Setup>),
}

/// Where a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Every step up to `to` is done.
    Done,
    /// The driver said no before this step.
    Declined(StepId),
    /// An abort arrived between steps, before this one.
    Aborted(StepId),
    /// This step failed (its error went out as an event).
    Failed(StepId),
}

#[async_trait]
pub trait Driver: Send {
    /// Whether steps are previewed and asked before they run (headless `--yes`: no).
    fn asks(&self) -> bool;

    /// Whether connecting (`hosts`, read-only) is asked too.
    fn asks_before_connecting(&self) -> bool {
        false
    }

    async fn confirm(&mut self, engine: &Engine, preview: Preview) -> Answer;

    /// A step ended: ran, found done, or failed. `hosts` reports here after the true state
    /// of every step was read back from the hosts.
    async fn ended(&mut self, _engine: &Engine, _step: StepId, _outcome: &StepResult<StepState>) {}
}

impl Engine {
    /// The preview of `id` with its what and why.
    pub async fn prepare(&mut self, id: StepId) -> Preview {
        let (what, why) = match self.describe(id) {
            Ok(d) => (d.what, d.why),
            Err(e) => (String::new(), e.message),
        };
        let commands = self.preview(id).await.map_err(|e| e.message);
        Preview {
            step: id,
            what,
            why,
            commands,
        }
    }

    /// Runs `from..=to` in order: connects first (unless connected), reads back every
    /// step's true state, then for each step not done asks the driver (if it asks) and runs
    /// it. Stops at the first failure, refusal or abort.
    pub async fn apply(&mut self, from: StepId, to: StepId, driver: &mut dyn Driver) -> Finish {
        if from == StepId::Hosts || !self.connected() {
            if driver.asks_before_connecting() {
                if let Some(stop) = self.ask(StepId::Hosts, driver).await {
                    return stop;
                }
            }
            let r = self.connect().await;
            driver.ended(self, StepId::Hosts, &r).await;
            if r.is_err() {
                return Finish::Failed(StepId::Hosts);
            }
        }
        for id in StepId::ALL
            .into_iter()
            .filter(|i| *i >= from.max(StepId::Install) && *i <= to)
        {
            if self.control().take_abort() {
                return Finish::Aborted(id);
            }
            // No question for a step the hosts show as done: it will be skipped.
            if driver.asks() && !self.inspect_quietly(id).await {
                if let Some(stop) = self.ask(id, driver).await {
                    return stop;
                }
            }
            // An abort between two steps (or during the question) stops before the next.
            if self.control().take_abort() {
                return Finish::Aborted(id);
            }
            let r = self.run_step(id).await;
            driver.ended(self, id, &r).await;
            if r.is_err() {
                return Finish::Failed(id);
            }
        }
        Finish::Done
    }

    async fn ask(&mut self, id: StepId, driver: &mut dyn Driver) -> Option<Finish> {
        loop {
            let preview = self.prepare(id).await;
            match driver.confirm(self, preview).await {
                Answer::Run => return None,
                Answer::Stop => return Some(Finish::Declined(id)),
                Answer::Change(setup) => self.set_setup(*setup),
            }
        }
    }
}
