//! The activity page: sessions by state, application, user and address; long-running queries; who blocks whom; cancel and terminate.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Redirect;

use super::current_db::CurrentDb;
use super::extract::Path;
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::db::introspect::{Activity, Session};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::state::AppState;
use crate::watch::catalog;

/// `GET /activity`.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<ActivityPage> {
    user.require(Role::Viewer)?;
    let caps = db.introspector.capabilities();
    let limit = state.config.settings.catalog_timeout;
    let threshold = state.config.settings.long_query_threshold;
    // Without server sessions (SQLite) this lists the statements Strata itself is running.
    let activity = catalog::read(limit, db.introspector.activity(threshold)).await?;
    let timed_out = activity.is_none().then(|| catalog::timeout_note(limit));
    let activity = activity.unwrap_or_default();
    Ok(ActivityPage {
        layout: Layout::for_db(&user, &state, &db, "activity").await?,
        timed_out,
        server_activity: caps.server_activity,
        can_cancel: caps.cancel && user.can(Role::Admin),
        can_terminate: caps.terminate && user.can(Role::Admin),
        tree: blocking_tree(&activity.sessions),
        long_running: activity.sessions.iter().filter(|s| activity.long_running.contains(&s.pid)).cloned().collect(),
        threshold: super::fmt::duration_ms(&Some(threshold.as_millis() as i64)),
        activity,
    })
}

/// `GET /activity/{pid}/{action}`: what is about to be cancelled or terminated, and a button to confirm.
pub async fn confirm(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, pid, action)): Path<(String, i64, String)>,
) -> Result<ConfirmPage> {
    user.require(Role::Admin)?;
    let action = Action::parse(&action)?;
    let limit = state.config.settings.catalog_timeout;
    let activity = catalog::read(limit, db.introspector.activity(state.config.settings.long_query_threshold))
        .await?
        .unwrap_or_default();
    let session = activity
        .sessions
        .into_iter()
        .find(|s| s.pid == pid)
        .ok_or_else(|| Error::NotFound(format!("session {pid}")))?;
    Ok(ConfirmPage { layout: Layout::for_db(&user, &state, &db, "activity").await?, action: action.as_str(), session })
}

/// `POST /activity/{pid}/{action}`: admins only, audited, then back to the activity page.
pub async fn act(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, pid, action)): Path<(String, i64, String)>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let action = Action::parse(&action)?;
    if let Action::Terminate = action {
        db.require_writable("terminating a session")?;
    }
    let caps = db.introspector.capabilities();
    let done = match action {
        Action::Cancel if caps.cancel => db.introspector.cancel(pid).await?,
        Action::Terminate if caps.terminate => db.introspector.terminate(pid).await?,
        _ => {
            return Err(Error::Unsupported(if caps.server_activity {
                format!("this {} server does not let Strata {} sessions", db.url().backend(), action.as_str())
            } else {
                format!("{} has no server sessions to {}", db.url().backend(), action.as_str())
            }));
        }
    };
    audit::record(
        &state.home,
        user.audit(format!("session.{}", action.as_str()))
            .database(db.name())
            .target(format!("pid {pid}"))
            .detail(if done { "signalled" } else { "no such session" }),
    )
    .await?;
    let message = match (action, done) {
        (Action::Cancel, true) => format!("Asked session {pid} to cancel its query."),
        (Action::Terminate, true) => format!("Terminated session {pid}."),
        (_, false) => format!("Session {pid} is gone or belongs to another database; nothing was done."),
    };
    user.flash(if done { FlashKind::Success } else { FlashKind::Error }, message).await?;
    Ok(Redirect::to(&format!("{}/activity", db.base())))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Cancel,
    Terminate,
}

impl Action {
    fn parse(s: &str) -> Result<Action> {
        match s {
            "cancel" => Ok(Action::Cancel),
            "terminate" => Ok(Action::Terminate),
            other => Err(Error::NotFound(format!("action {other:?}"))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Action::Cancel => "cancel",
            Action::Terminate => "terminate",
        }
    }
}

/// One line of the blocking tree: a session and how deep it waits.
#[derive(Clone, Debug)]
pub struct TreeLine {
    pub depth: usize,
    pub session: Session,
}

/// Who blocks whom: roots are sessions that block others without waiting themselves; waiters nest below.
pub(super) fn blocking_tree(sessions: &[Session]) -> Vec<TreeLine> {
    let by_pid: HashMap<i64, &Session> = sessions.iter().map(|s| (s.pid, s)).collect();
    let mut waiters: HashMap<i64, Vec<i64>> = HashMap::new();
    for s in sessions {
        for b in &s.blocked_by {
            waiters.entry(*b).or_default().push(s.pid);
        }
    }
    let mut roots: Vec<i64> =
        waiters.keys().copied().filter(|p| by_pid.get(p).is_none_or(|s| s.blocked_by.is_empty())).collect();
    roots.sort_unstable();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    fn walk(
        pid: i64,
        depth: usize,
        by_pid: &HashMap<i64, &Session>,
        waiters: &HashMap<i64, Vec<i64>>,
        seen: &mut std::collections::HashSet<i64>,
        out: &mut Vec<TreeLine>,
    ) {
        if !seen.insert(pid) {
            return; // a lock cycle (deadlock in the making): show each session once
        }
        let session = by_pid.get(&pid).map(|s| (*s).clone()).unwrap_or_else(|| Session { pid, ..Default::default() });
        out.push(TreeLine { depth, session });
        let mut next = waiters.get(&pid).cloned().unwrap_or_default();
        next.sort_unstable();
        for w in next {
            walk(w, depth + 1, by_pid, waiters, seen, out);
        }
    }
    for r in roots {
        walk(r, 0, &by_pid, &waiters, &mut seen, &mut out);
    }
    // Sessions waiting on each other in a cycle have no root: start from the lowest pid.
    let mut rest: Vec<i64> = waiters.keys().copied().filter(|p| !seen.contains(p)).collect();
    rest.sort_unstable();
    for r in rest {
        walk(r, 0, &by_pid, &waiters, &mut seen, &mut out);
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "activity/index.html")]
pub struct ActivityPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    pub server_activity: bool,
    pub can_cancel: bool,
    pub can_terminate: bool,
    pub activity: Activity,
    pub long_running: Vec<Session>,
    pub tree: Vec<TreeLine>,
    pub threshold: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "activity/confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub action: &'static str,
    pub session: Session,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pid: i64, blocked_by: &[i64]) -> Session {
        Session { pid, blocked_by: blocked_by.to_vec(), ..Default::default() }
    }

    #[test]
    fn blockers_are_roots_and_waiters_nest_below_them() {
        let tree = blocking_tree(&[s(1, &[]), s(2, &[1]), s(3, &[2]), s(4, &[])]);
        let shape: Vec<(i64, usize)> = tree.iter().map(|l| (l.session.pid, l.depth)).collect();
        assert_eq!(shape, vec![(1, 0), (2, 1), (3, 2)]);
    }

    #[test]
    fn a_lock_cycle_shows_each_session_once() {
        let tree = blocking_tree(&[s(1, &[2]), s(2, &[1])]);
        let shape: Vec<(i64, usize)> = tree.iter().map(|l| (l.session.pid, l.depth)).collect();
        assert_eq!(shape, vec![(1, 0), (2, 1)]);
    }
}
