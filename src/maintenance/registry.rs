//! The dashboard's maintenance runs, in memory per instance: the running ones (one per table, a database-wide one alone) and the latest finished.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Action, Outcome, Target, Tracker};
use crate::error::{Error, Result};

/// Finished runs kept for the Maintenance page.
const KEEP_FINISHED: usize = 50;

/// How a run stands.
#[derive(Clone, Debug)]
pub enum RunState {
    Running,
    Succeeded(Outcome),
    Failed(String),
}

/// One action started from the dashboard.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: u64,
    pub action: Action,
    pub target: Target,
    /// The account that started it.
    pub actor: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub state: RunState,
    pub tracker: Tracker,
}

impl Run {
    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Running)
    }

    /// `running`, `succeeded`, `problems found` or `failed`.
    pub fn status(&self) -> &'static str {
        match &self.state {
            RunState::Running => "running",
            RunState::Succeeded(o) if o.healthy => "succeeded",
            RunState::Succeeded(_) => "problems found",
            RunState::Failed(_) => "failed",
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            RunState::Succeeded(o) => Some(o),
            _ => None,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match &self.state {
            RunState::Failed(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Runs {
    next_id: u64,
    running: Vec<Run>,
    finished: VecDeque<Run>,
}

/// Shared by every request of one server (`AppState::maintenance`).
#[derive(Default)]
pub struct Registry(Mutex<Runs>);

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Runs> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a run, or refuses when one on an overlapping target is still running (two
    /// VACUUMs of one table would only queue behind each other's locks).
    pub fn start(&self, action: Action, target: Target, actor: impl Into<String>) -> Result<Run> {
        let mut runs = self.lock();
        if let Some(busy) = runs.running.iter().find(|r| r.target.overlaps(&target)) {
            return Err(Error::Maintenance(format!(
                "{} on {} (started by {}) is still running; {} on {target} was not started. Try again when it has finished",
                busy.action.label(),
                busy.target,
                busy.actor,
                action.label()
            )));
        }
        runs.next_id += 1;
        let run = Run {
            id: runs.next_id,
            action,
            target,
            actor: actor.into(),
            started_at: Utc::now(),
            finished_at: None,
            state: RunState::Running,
            tracker: Tracker::default(),
        };
        runs.running.push(run.clone());
        Ok(run)
    }

    /// Records how run `id` ended.
    pub fn finish(&self, id: u64, result: std::result::Result<Outcome, String>) {
        let mut runs = self.lock();
        let Some(i) = runs.running.iter().position(|r| r.id == id) else { return };
        let mut run = runs.running.remove(i);
        run.finished_at = Some(Utc::now());
        run.state = match result {
            Ok(o) => RunState::Succeeded(o),
            Err(e) => RunState::Failed(e),
        };
        runs.finished.push_front(run);
        runs.finished.truncate(KEEP_FINISHED);
    }

    pub fn get(&self, id: u64) -> Option<Run> {
        let runs = self.lock();
        runs.running.iter().chain(runs.finished.iter()).find(|r| r.id == id).cloned()
    }

    /// Running now, oldest first.
    pub fn running(&self) -> Vec<Run> {
        self.lock().running.clone()
    }

    /// Finished, newest first.
    pub fn finished(&self) -> Vec<Run> {
        self.lock().finished.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Target {
        Target::Table { schema: "public".into(), name: name.into() }
    }

    #[test]
    fn one_run_per_table_and_a_database_wide_run_alone() {
        let r = Registry::default();
        let a = r.start(Action::Vacuum, table("a"), "ann").unwrap();
        r.start(Action::Analyze, table("b"), "bob").expect("another table may run beside it");
        let err = r.start(Action::Analyze, table("a"), "bob").unwrap_err().to_string();
        assert!(err.contains("VACUUM on public.a (started by ann) is still running"), "{err}");
        assert!(r.start(Action::Vacuum, Target::Database, "bob").is_err());
        r.finish(a.id, Ok(Outcome::done("ok")));
        r.start(Action::Analyze, table("a"), "bob").expect("free again once finished");
        assert_eq!(r.get(a.id).unwrap().status(), "succeeded");
        assert_eq!(r.running().len(), 2);
        assert_eq!(r.finished().len(), 1);
    }

    #[test]
    fn a_check_that_found_problems_is_not_called_a_success() {
        let r = Registry::default();
        let run = r.start(Action::IntegrityCheck, Target::Database, "ann").unwrap();
        r.finish(run.id, Ok(Outcome { summary: "2 problems".into(), healthy: false, ..Outcome::default() }));
        assert_eq!(r.get(run.id).unwrap().status(), "problems found");
    }
}
