//! The time an invocation may still use.
//!
//! Lambda stops a function at its timeout without a word: no step line, no
//! error type, only "Task timed out". So every invocation gets a budget,
//! Lambda's deadline less a [safety margin](SAFETY_MARGIN), and every
//! network operation (a login, a statement, an AWS API call) runs
//! [`within`] what is left of it. When the budget runs out, the operation
//! fails with an [`OutOfTime`] error that the step reports and logs like any
//! other failure, before Lambda's own timeout.
//!
//! The budget is carried in a task-local set by [`scope`] (the driver does
//! it for each invocation), so backends need not pass it around: a call to
//! [`within`] anywhere in the invocation's task sees it. Outside a scope (unit
//! tests, tools) there is no budget and only the operation's own limit
//! applies.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Time kept back from Lambda's deadline, so that a step that ran out of
/// time still logs its line and returns its error before Lambda stops the
/// function. A quarter of the invocation's time when that is less (very
/// short timeouts).
pub const SAFETY_MARGIN: Duration = Duration::from_millis(1000);

/// The end of an invocation's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    end: Instant,
    /// The whole budget, as it was at the start.
    budget: Duration,
}

impl Deadline {
    /// The budget of an invocation whose Lambda deadline is `deadline_ms`
    /// (milliseconds since the Unix epoch, as the runtime API gives it), at
    /// wall-clock time `now`: the time until then less [`SAFETY_MARGIN`].
    /// `None` when that deadline is not in the future: a runtime that gives
    /// no real deadline (e.g. a local emulator's placeholder value).
    pub fn from_epoch_millis(deadline_ms: u64, now: SystemTime) -> Option<Self> {
        let deadline = UNIX_EPOCH.checked_add(Duration::from_millis(deadline_ms))?;
        let total = deadline.duration_since(now).ok()?;
        if total.is_zero() {
            return None;
        }
        let margin = SAFETY_MARGIN.min(total / 4);
        Some(Self::after(total - margin))
    }

    /// A budget of `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self {
            end: Instant::now() + budget,
            budget,
        }
    }

    /// The time left (zero once it has run out).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The whole budget, as it was at the start.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// When the budget ends.
    pub fn instant(&self) -> Instant {
        self.end
    }
}

tokio::task_local! {
    static CURRENT: Option<Deadline>;
}

/// Runs `future` with `deadline` as the budget that [`within`] sees.
pub async fn scope<F: Future>(deadline: Option<Deadline>, future: F) -> F::Output {
    CURRENT.scope(deadline, future).await
}

/// The budget of the invocation running in this task, if any.
pub fn current() -> Option<Deadline> {
    CURRENT.try_with(|deadline| *deadline).ok().flatten()
}

/// An operation ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct OutOfTime {
    /// How long the operation was given.
    pub allowed: Duration,
    /// Whether the invocation's budget (Lambda's deadline) was the limit,
    /// rather than the operation's own limit.
    pub by_deadline: bool,
}

impl OutOfTime {
    fn describe(&self) -> String {
        let seconds = self.allowed.as_secs_f64();
        if self.by_deadline {
            format!(
                "the invocation ran out of time ({seconds:.1} s were left before the Lambda \
                 deadline, less a safety margin); raise the function's timeout or lower \
                 CONNECT_TIMEOUT_SECONDS"
            )
        } else {
            format!("no answer within {seconds:.1} s")
        }
    }
}

/// How long an operation whose own limit is `limit` may take now: the
/// smaller of that limit and the invocation's remaining budget.
pub fn allowance(limit: Option<Duration>) -> (Duration, bool) {
    match (limit, current()) {
        (Some(limit), Some(deadline)) if limit < deadline.remaining() => (limit, false),
        (_, Some(deadline)) => (deadline.remaining(), true),
        (Some(limit), None) => (limit, false),
        (None, None) => (Duration::MAX, false),
    }
}

/// Runs `future`, giving it at most `limit` (its own limit, e.g. the
/// connect timeout) and never more than the invocation has left.
pub async fn within<F: Future>(limit: Option<Duration>, future: F) -> Result<F::Output, OutOfTime> {
    let (allowed, by_deadline) = allowance(limit);
    if allowed == Duration::MAX {
        return Ok(future.await);
    }
    tokio::time::timeout(allowed, future)
        .await
        .map_err(|_| OutOfTime {
            allowed,
            by_deadline,
        })
}

/// Runs a backend operation (e.g. statements after a login) within the
/// invocation's remaining time; running out is a
/// [`BackendError::OutOfTime`](crate::BackendError::OutOfTime) naming
/// `operation`.
pub async fn within_operation<T>(
    operation: &str,
    work: impl Future<Output = Result<T, crate::BackendError>>,
) -> Result<T, crate::BackendError> {
    within(None, work)
        .await
        .map_err(|source| crate::BackendError::OutOfTime {
            operation: operation.to_owned(),
            source,
        })?
}

/// Milliseconds since the Unix epoch, now.
pub fn now_epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_deadline_less_the_margin() {
        let now = SystemTime::now();
        // Deadlines from `now` itself: a second clock read may be a
        // millisecond later on a busy machine, making the budget longer.
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let in_30_s = now_ms + 30_000;
        let deadline = Deadline::from_epoch_millis(in_30_s, now).expect("a deadline");
        let budget = deadline.budget();
        assert!(budget <= Duration::from_secs(29), "{budget:?}");
        assert!(budget > Duration::from_millis(28_500), "{budget:?}");
        // A very short timeout keeps three quarters.
        let in_2_s = now_ms + 2_000;
        let short = Deadline::from_epoch_millis(in_2_s, now).unwrap().budget();
        assert!(short <= Duration::from_millis(1_500), "{short:?}");
        assert!(short > Duration::from_millis(1_200), "{short:?}");
    }

    #[test]
    fn a_deadline_in_the_past_is_no_deadline() {
        // cargo lambda's local runtime sends the fixed value 600000.
        assert_eq!(
            Deadline::from_epoch_millis(600_000, SystemTime::now()),
            None
        );
        assert_eq!(Deadline::from_epoch_millis(0, SystemTime::now()), None);
    }

    #[tokio::test]
    async fn within_honours_the_smaller_of_limit_and_budget() {
        // No scope: only the limit.
        let slow = tokio::time::sleep(Duration::from_secs(5));
        let err = within(Some(Duration::from_millis(20)), slow)
            .await
            .unwrap_err();
        assert!(!err.by_deadline);
        assert!(err.to_string().contains("no answer within"), "{err}");

        // A budget smaller than the limit wins, and says so.
        let budget = Some(Deadline::after(Duration::from_millis(30)));
        let err = scope(budget, async {
            within(
                Some(Duration::from_secs(5)),
                tokio::time::sleep(Duration::from_secs(5)),
            )
            .await
        })
        .await
        .unwrap_err();
        assert!(err.by_deadline);
        assert!(err.to_string().contains("ran out of time"), "{err}");

        // Work that fits passes through.
        let value = scope(budget, async { within(None, async { 7 }).await })
            .await
            .unwrap();
        assert_eq!(value, 7);
        assert_eq!(current(), None, "the scope ends with its future");
    }
}
