//! Token buckets: one per connection ([`TokenBucket`]) and one per client
//! address ([`PerAddress`]).
//!
//! [`PerAddress`] is what admission control ([`crate::admission`]) is built
//! on. Its cost per call is O(1): the address picks one of [`SHARDS`]
//! independently locked hash maps, and a call touches one entry. Buckets
//! that have refilled completely are forgotten (a full bucket is the same as
//! no bucket), in sweeps that run when a shard has doubled since its last
//! sweep, so their cost is amortized over the inserts that grew it. Each
//! shard is also capped: past `max_addresses / SHARDS` entries, a sweep that
//! finds nothing idle forgets an arbitrary eighth of the shard (those
//! addresses start again with a full bucket; only an attacker with that many
//! distinct addresses active at once can cause it).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// Independently locked maps per limiter.
pub const SHARDS: usize = 16;
/// A shard is not swept before it holds this many addresses.
const MIN_SWEEP: usize = 64;

/// One address's bucket: tokens left as of `at`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tokens: f64,
    at: Instant,
}

struct Shard {
    map: HashMap<u128, Slot>,
    /// Sweep when the map reaches this size.
    sweep_at: usize,
}

/// Token buckets per client address (IPv4 address, or IPv6 /64 prefix: one
/// device or home gets a whole /64, so counting single IPv6 addresses would
/// give it billions of buckets).
pub struct PerAddress {
    rate: f64,
    burst: f64,
    shard_cap: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

/// The map key of an address: IPv4 (also IPv4-mapped IPv6) as
/// `::ffff:a.b.c.d`, IPv6 as its /64 prefix.
pub fn address_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !((1u128 << 64) - 1),
        },
    }
}

impl PerAddress {
    /// `rate` tokens a second per address, at most `burst` held; a rate of 0
    /// or less turns the limit off. At most about `max_addresses` are tracked.
    pub fn new(rate: f64, burst: f64, max_addresses: usize) -> Self {
        let shard_cap = (max_addresses / SHARDS).max(MIN_SWEEP);
        PerAddress {
            rate,
            burst: burst.max(1.0),
            shard_cap,
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        sweep_at: MIN_SWEEP,
                    })
                })
                .collect(),
        }
    }

    /// Whether this limiter limits anything.
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    fn shard(&self, key: u128) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding the lock leaves plain numbers; keep going.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a token for `ip`; when it has none, how long until it will.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    /// As [`check`](Self::check), at `now`.
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let key = address_key(ip);
        let mut shard = self.shard(key);
        if shard.map.len() >= shard.sweep_at && !shard.map.contains_key(&key) {
            self.sweep(&mut shard, now);
        }
        let slot = shard.map.entry(key).or_insert(Slot {
            tokens: self.burst,
            at: now,
        });
        let dt = now.saturating_duration_since(slot.at).as_secs_f64();
        slot.at = now;
        slot.tokens = (slot.tokens + dt * self.rate).min(self.burst);
        if slot.tokens >= 1.0 {
            slot.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - slot.tokens) / self.rate))
        }
    }

    /// Takes a token for `ip`; false when it is over its rate.
    pub fn take(&self, ip: IpAddr) -> bool {
        self.check(ip).is_ok()
    }

    /// Forgets full buckets, then (at the cap) arbitrary ones; sets the size
    /// of the next sweep to twice what is left.
    fn sweep(&self, shard: &mut Shard, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        shard.map.retain(|_, s| {
            let dt = now.saturating_duration_since(s.at).as_secs_f64();
            s.tokens + dt * rate < burst
        });
        if shard.map.len() >= self.shard_cap {
            let excess = shard.map.len() - self.shard_cap * 7 / 8;
            let victims: Vec<u128> = shard.map.keys().take(excess).copied().collect();
            for k in victims {
                shard.map.remove(&k);
            }
        }
        if shard.map.capacity() > 4 * shard.map.len().max(MIN_SWEEP) {
            shard.map.shrink_to_fit();
        }
        shard.sweep_at = (shard.map.len() * 2).clamp(MIN_SWEEP, self.shard_cap);
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3.0);
        assert!(b.take_at(t0) && b.take_at(t0) && b.take_at(t0));
        assert!(!b.take_at(t0));
        assert!(b.take_at(t0 + Duration::from_millis(100)));
        assert!(!b.take_at(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn addresses_are_limited_separately_and_told_when_to_retry() {
        let t0 = Instant::now();
        let l = PerAddress::new(2.0, 2.0, 1000);
        assert!(l.check_at(v4(1), t0).is_ok());
        assert!(l.check_at(v4(1), t0).is_ok());
        let wait = l.check_at(v4(1), t0).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert!(l.check_at(v4(2), t0).is_ok());
        assert!(l.check_at(v4(1), t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn a_zero_rate_turns_the_limit_off() {
        let l = PerAddress::new(0.0, 1.0, 1000);
        for _ in 0..100 {
            assert!(l.take(v4(1)));
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(
            address_key(mapped),
            address_key(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_ne!(
            address_key(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            address_key(v4(0))
        );
    }

    #[test]
    fn idle_buckets_are_forgotten_and_the_map_stays_bounded() {
        let t0 = Instant::now();
        let l = PerAddress::new(10.0, 5.0, 16 * 256);
        // 100,000 addresses, each taking one token, 1 ms apart: a bucket is
        // full again 100 ms after its take, so almost all are idle.
        for i in 0..100_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            assert!(l.check_at(v4(i), now).is_ok());
            assert!(l.tracked() <= 16 * 256 + 16, "{}", l.tracked());
        }
        // Nothing idle to forget: still bounded.
        let l = PerAddress::new(0.0001, 5.0, 16 * 256);
        for i in 0..100_000u32 {
            assert!(l.check_at(v4(i), t0).is_ok());
        }
        assert!(l.tracked() <= 16 * 256, "{}", l.tracked());
    }

    #[test]
    fn an_active_address_keeps_its_empty_bucket_through_sweeps() {
        let t0 = Instant::now();
        let l = PerAddress::new(0.01, 2.0, 100_000);
        assert!(l.check_at(v4(7), t0).is_ok());
        assert!(l.check_at(v4(7), t0).is_ok());
        for i in 100..20_000u32 {
            let _ = l.check_at(v4(i), t0 + Duration::from_secs(1));
        }
        assert!(l.check_at(v4(7), t0 + Duration::from_secs(2)).is_err());
    }
}
