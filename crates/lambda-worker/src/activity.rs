//! The errors the worker raises in place of an activity that cannot run in what is left of the
//! invocation; both are retryable, so the server runs the activity again in a fresh invocation.

/// Raised in place of an activity still running when the invocation's drain time is nearly
/// over: a retryable failure, so the server runs the activity again in a later invocation.
#[derive(Debug, thiserror::Error)]
#[error("activity interrupted: the Lambda invocation's work window closed before it finished; it will be retried (record heartbeat details to resume where it stopped, or shorten the activity)")]
pub struct WindowClosed;

/// Raised at once, without running the activity, when its start-to-close deadline falls after
/// the point where this invocation interrupts running activities, although it would fit in a
/// fresh invocation: a retryable failure, and the invocation stops polling so the retry lands in a
/// fresh invocation with a full window.
#[derive(Debug, thiserror::Error)]
#[error("activity {activity_type} not started: its start-to-close timeout ({timeout:?}) does not fit in the {left:?} left in this Lambda invocation; it will be retried in a fresh invocation")]
pub struct WontFit {
    /// Activity type.
    pub activity_type: String,
    /// The activity's time budget (its deadline minus now).
    pub timeout: std::time::Duration,
    /// Time left before running activities are interrupted.
    pub left: std::time::Duration,
}
