//! Waiting, boundedly, for state that another task or process changes and that offers no
//! notification: a server process becoming ready, a session being recorded, a file appearing.
//! Tests call these instead of sleeping for a guessed time: they return as soon as the state is
//! seen, and say when it never was.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often the state is looked at: often enough not to slow tests, rarely enough not to load
/// the machine.
const PACE: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, or `deadline` has passed (then `None`).
///
/// Runs on tokio's clock, so on a paused runtime the waiting costs no real time.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(PACE).await;
    }
}

/// [`eventually`] for synchronous tests and checks (child processes, ports, files).
pub fn eventually_blocking<T>(
    deadline: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(PACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_state_once_seen_or_none_at_the_deadline() {
        let mut polls = 0;
        let found = eventually(Duration::from_secs(1), || {
            polls += 1;
            std::future::ready((polls == 3).then_some("seen"))
        })
        .await;
        assert_eq!((found, polls), (Some("seen"), 3));
        let never: Option<()> =
            eventually(Duration::from_millis(100), || std::future::ready(None)).await;
        assert_eq!(never, None);
    }

    #[test]
    fn blocking_form() {
        let mut polls = 0;
        let found = eventually_blocking(Duration::from_secs(1), || {
            polls += 1;
            (polls == 2).then_some(polls)
        });
        assert_eq!(found, Some(2));
        assert_eq!(eventually_blocking(Duration::ZERO, || None::<()>), None);
    }
}
