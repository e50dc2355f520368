//! A token bucket: `rate` tokens a second, holding at most `burst`.

use std::time::Instant;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    pub(crate) burst: f64,
    pub(crate) tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        TokenBucket {
            rate: rate.max(0.0),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes one token at `now`; false when the bucket is empty.
    pub fn take_at(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }
}

/// Token buckets per client address (e.g. for session creation and joins).
pub struct PerAddress {
    rate: f64,
    burst: f64,
    buckets: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, TokenBucket>>,
}

impl PerAddress {
    pub fn new(rate: f64, burst: f64) -> Self {
        PerAddress {
            rate,
            burst,
            buckets: Default::default(),
        }
    }

    /// Takes a token for `addr`; false when it is over its rate.
    pub fn take(&self, addr: std::net::IpAddr) -> bool {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Forget idle addresses rather than grow without bound.
            map.retain(|_, b| b.tokens < b.burst);
        }
        map.entry(addr)
            .or_insert_with(|| TokenBucket::new(self.rate, self.burst))
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3.0);
        assert!(b.take_at(t0) && b.take_at(t0) && b.take_at(t0));
        assert!(!b.take_at(t0));
        assert!(b.take_at(t0 + Duration::from_millis(100)));
        assert!(!b.take_at(t0 + Duration::from_millis(100)));
    }
}
