//! Waiting by polling a condition with a deadline, never by sleeping a guessed time.
//!
//! A condition answers with an [`Outcome`]: `bool`, `Option<T>` (`Some` is done and its value
//! returned), or `Result<T, S>` (`Err` carries the last value seen, which the timeout panic
//! prints). Each helper polls every [`STEP`]:
//!
//! - [`until`] (async) and [`until_blocking`]: until the condition holds, within a deadline;
//! - [`holds`] (async) and [`holds_blocking`]: the condition must hold throughout a span.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is polled.
pub const STEP: Duration = Duration::from_millis(50);

/// What one poll of a condition answered: its value when it holds, else what was seen (if the
/// condition tells).
pub trait Outcome {
    /// The value a condition that holds yields.
    type Value;
    /// `Ok` when the condition holds; else `Err` with the value seen, when there is one.
    fn outcome(self) -> Result<Self::Value, Option<String>>;
}

impl Outcome for bool {
    type Value = ();
    fn outcome(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, S: Display> Outcome for Result<T, S> {
    type Value = T;
    fn outcome(self) -> Result<T, Option<String>> {
        self.map_err(|seen| Some(seen.to_string()))
    }
}

/// Whether a wait wants the condition to become true or to stay true.
#[derive(Clone, Copy)]
enum Mode {
    Until,
    Holds,
}

/// One wait in progress: what is awaited, since when, and what was last seen.
struct Watch<'a> {
    what: &'a str,
    span: Duration,
    start: Instant,
    mode: Mode,
}

impl<'a> Watch<'a> {
    fn new(what: &'a str, span: Duration, mode: Mode) -> Self {
        Watch {
            what,
            span,
            start: Instant::now(),
            mode,
        }
    }

    /// Judges one poll: `Some(value)` ends the wait; `None` polls again after a step. Panics
    /// when the deadline passed (`until`) or the condition failed (`holds`).
    fn judge<O: Outcome>(&self, outcome: O) -> Option<O::Value> {
        let elapsed = self.start.elapsed();
        let (what, span) = (self.what, self.span);
        match (self.mode, outcome.outcome()) {
            (Mode::Until, Ok(v)) => Some(v),
            (Mode::Until, Err(seen)) if elapsed >= span => {
                panic!("timed out after {span:?} waiting for {what}{}", last(seen))
            }
            (Mode::Holds, Err(seen)) => {
                panic!(
                    "{what} stopped holding after {elapsed:?} of {span:?}{}",
                    last(seen)
                )
            }
            (Mode::Holds, Ok(v)) if elapsed >= span => Some(v),
            _ => None,
        }
    }
}

fn last(seen: Option<String>) -> String {
    seen.map(|s| format!("; last seen:\n{s}"))
        .unwrap_or_default()
}

async fn poll<O, F, Fut>(watch: Watch<'_>, mut check: F) -> O::Value
where
    O: Outcome,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    loop {
        if let Some(v) = watch.judge(check().await) {
            return v;
        }
        tokio::time::sleep(STEP).await;
    }
}

fn poll_blocking<O: Outcome>(watch: Watch<'_>, mut check: impl FnMut() -> O) -> O::Value {
    loop {
        if let Some(v) = watch.judge(check()) {
            return v;
        }
        std::thread::sleep(STEP);
    }
}

/// Polls `check` until it holds and returns its value, or panics after `within` naming `what`
/// and the last value seen.
pub async fn until<O, F, Fut>(what: &str, within: Duration, check: F) -> O::Value
where
    O: Outcome,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    poll(Watch::new(what, within, Mode::Until), check).await
}

/// [`until`] for code outside an async runtime (the thread sleeps between polls).
pub fn until_blocking<O: Outcome>(
    what: &str,
    within: Duration,
    check: impl FnMut() -> O,
) -> O::Value {
    poll_blocking(Watch::new(what, within, Mode::Until), check)
}

/// Polls `check` for `span` and panics, naming `what` and the value seen, as soon as it does
/// not hold; returns the last poll's value.
pub async fn holds<O, F, Fut>(what: &str, span: Duration, check: F) -> O::Value
where
    O: Outcome,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    poll(Watch::new(what, span, Mode::Holds), check).await
}

/// [`holds`] for code outside an async runtime (the thread sleeps between polls).
pub fn holds_blocking<O: Outcome>(
    what: &str,
    span: Duration,
    check: impl FnMut() -> O,
) -> O::Value {
    poll_blocking(Watch::new(what, span, Mode::Holds), check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_returns_the_value_once_it_holds() {
        let mut n = 0;
        let v = until_blocking("n to reach 3", Duration::from_secs(5), || {
            n += 1;
            if n >= 3 { Ok(n) } else { Err(n) }
        });
        assert_eq!(v, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 100ms waiting for never; last seen:\n7")]
    fn until_names_what_and_the_last_value_on_timeout() {
        until_blocking("never", Duration::from_millis(100), || Err::<(), _>(7));
    }

    #[test]
    fn holds_polls_for_the_whole_span() {
        let start = Instant::now();
        holds_blocking("true", Duration::from_millis(120), || true);
        assert!(start.elapsed() >= Duration::from_millis(120));
    }

    #[test]
    #[should_panic(expected = "the flag stopped holding")]
    fn holds_panics_when_the_condition_fails() {
        let mut n = 0;
        holds_blocking("the flag", Duration::from_secs(5), || {
            n += 1;
            n < 3
        });
    }

    #[tokio::test]
    async fn until_async_polls_an_async_condition() {
        let mut n = 0;
        let v = until("n to reach 2", Duration::from_secs(5), || {
            n += 1;
            let seen = n;
            async move { (seen >= 2).then_some(seen) }
        })
        .await;
        assert_eq!(v, 2);
    }
}
