//! One cancellation tree per run, and why it was cancelled: the first reason given wins, and
//! travels with the token instead of in a separate slot.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// A safety rule stopped the run: an unhealthy cluster before the first fault, or too many
    /// failed deliveries.
    Safety(String),
    /// A check with `abort_on_fail` has certainly failed: the run worked, the gate failed.
    CheckFailed(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Interrupted => f.write_str("interrupted (Ctrl-C or SIGTERM)"),
            StopReason::Safety(why) | StopReason::CheckFailed(why) => f.write_str(why),
        }
    }
}

/// A node of the run's cancellation tree. Children are cancelled with their parent; a
/// reason given anywhere in the tree stops the whole run and is the run's.
#[derive(Debug, Clone)]
pub struct Stop {
    token: CancellationToken,
    root: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A new root.
    pub fn new() -> Stop {
        let token = CancellationToken::new();
        Stop { root: token.clone(), token, reason: Arc::new(OnceLock::new()) }
    }

    /// A child: cancelled with this one, cancellable alone, sharing the run's reason.
    pub fn child(&self) -> Stop {
        Stop { token: self.token.child_token(), root: self.root.clone(), reason: self.reason.clone() }
    }

    /// Stops the whole run for `reason`, unless it already has one: a reason is never a
    /// part's alone.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.root.cancel();
    }

    /// Cancels this node and its children without a reason: the normal end of a part.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// The token, for code that only needs to see the cancellation (the worker threads).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The first reason given anywhere in the tree.
    pub fn reason(&self) -> Option<StopReason> {
        self.reason.get().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins_and_reaches_every_node() {
        let root = Stop::new();
        let child = root.child().child();
        child.stop(StopReason::Safety("unhealthy".into()));
        root.stop(StopReason::Interrupted);
        assert_eq!(root.reason(), Some(StopReason::Safety("unhealthy".into())));
        assert!(root.is_cancelled() && child.is_cancelled());
    }

    #[test]
    fn a_child_ends_alone_and_a_root_ends_its_children() {
        let root = Stop::new();
        let (a, b) = (root.child(), root.child());
        a.cancel();
        assert!(a.is_cancelled() && !b.is_cancelled() && !root.is_cancelled());
        assert_eq!(root.reason(), None);
        root.cancel();
        assert!(b.is_cancelled());
    }
}
