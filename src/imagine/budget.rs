//! A server's hourly budget of LLM rewrites (`rewrite.server_llm_per_hour`).

use std::time::Duration;

use crate::ids::GuildId;

/// Servers remembered at most (older windows are dropped past it).
const MAX_SERVERS: usize = 100_000;

/// LLM rewrites per server per hour, counted in this process (a fixed window per server): a busy
/// or abusive server cannot run up a paid API's bill, or hold the LLM for everyone.
pub struct LlmBudget {
    per_hour: u32,
    used: dashmap::DashMap<GuildId, (std::time::Instant, u32)>,
}

impl LlmBudget {
    /// `per_hour` LLM calls per server (0: unlimited).
    pub fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            used: dashmap::DashMap::new(),
        }
    }

    /// Takes one call for `guild` at `now`: false when its hour's budget is spent.
    pub fn take(&self, guild: GuildId, now: std::time::Instant) -> bool {
        if self.per_hour == 0 {
            return true;
        }
        if self.used.len() >= MAX_SERVERS {
            self.used
                .retain(|_, (start, _)| now.duration_since(*start) < HOUR);
        }
        let mut entry = self.used.entry(guild).or_insert((now, 0));
        let (start, count) = &mut *entry;
        if now.duration_since(*start) >= HOUR {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_hour {
            return false;
        }
        *count += 1;
        true
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_gets_its_hourly_llm_calls_then_the_template() {
        let budget = LlmBudget::new(2);
        let (a, b) = (GuildId(1), GuildId(2));
        let t0 = std::time::Instant::now();
        assert!(budget.take(a, t0));
        assert!(budget.take(a, t0));
        assert!(!budget.take(a, t0), "spent");
        assert!(budget.take(b, t0), "another server has its own");
        assert!(!budget.take(a, t0 + Duration::from_secs(3599)));
        assert!(budget.take(a, t0 + HOUR), "a new hour");
        let unlimited = LlmBudget::new(0);
        assert!((0..1000).all(|_| unlimited.take(a, t0)));
    }
}
