use mta_sts_resolver::Clock;

/// The system's wall clock, for [`Resolver`](mta_sts_resolver::Resolver).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}
