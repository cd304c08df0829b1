//! Compare-mode picks (`compare_picks`): which half of a side-by-side render the member
//! preferred. They feed the server's persona win rate (`/stats`) and the member's few-shot
//! examples (the prompt → preferred rewrite pairs of the paper's few-shot setting).

use sqlx::Row;

use super::consent::{consented_sql, lock_consent};
use super::{db_err, now_ms, Side, Store, StoreError};
use crate::ids::{GuildId, JobId, MemberId};

/// The answer to a pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickOutcome {
    /// Stored; `persona_won` says whether the persona image was preferred.
    Recorded {
        /// Whether the pick went to the persona side.
        persona_won: bool,
    },
    /// The member had already picked on this render; the first pick stands.
    AlreadyPicked,
    /// Someone other than the requester pressed the button.
    NotRequester,
    /// The requester's pick, not kept: they have not consented (or the server's inference is
    /// off, or it was a DM); picks are evidence of their taste.
    NotKept {
        /// Whether the pick went to the persona side.
        persona_won: bool,
    },
    /// No such compare render (deleted, or not a compare job).
    Unknown,
}

/// A server's compare results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompareStats {
    /// Picks that went to the persona image.
    pub persona_wins: u64,
    /// All picks.
    pub picks: u64,
}

impl Store {
    /// Records `member`'s pick of `picked` on compare job `job`; only the requester may pick, once.
    pub async fn record_pick(
        &self,
        job: JobId,
        member: MemberId,
        picked: Side,
    ) -> Result<PickOutcome, StoreError> {
        let Some(render) = self.job(job).await? else {
            return Ok(PickOutcome::Unknown);
        };
        let Some(compare) = render.compare.as_ref() else {
            return Ok(PickOutcome::Unknown);
        };
        if render.member_id != member {
            return Ok(PickOutcome::NotRequester);
        }
        let persona_won = compare.persona_side == picked;
        let Some(guild) = render.guild_id else {
            return Ok(PickOutcome::NotKept { persona_won });
        };
        let op = "record pick";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        lock_consent(&mut tx, self.backend(), guild, member).await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO compare_picks (job_id, guild_id, member_id, prompt, persona_prompt, \
             generic_prompt, persona_side, picked_side, persona_won, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 WHERE {} \
             ON CONFLICT (job_id) DO NOTHING",
            consented_sql("$2", "$3")
        ))
        .bind(job.0)
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(&render.prompt)
        .bind(&render.rendered_prompt)
        .bind(&compare.generic_prompt)
        .bind(compare.persona_side.as_str())
        .bind(picked.as_str())
        .bind(i64::from(persona_won))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        let outcome = if inserted.rows_affected() == 1 {
            PickOutcome::Recorded { persona_won }
        } else {
            let picked_before = sqlx::query("SELECT 1 AS one FROM compare_picks WHERE job_id = $1")
                .bind(job.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(op))?
                .is_some();
            if picked_before {
                PickOutcome::AlreadyPicked
            } else {
                PickOutcome::NotKept { persona_won }
            }
        };
        tx.commit().await.map_err(db_err(op))?;
        Ok(outcome)
    }

    /// The member's most recent (prompt → preferred rewrite) pairs in this server, newest first:
    /// the persona rewrite when it won, the generic prompt when it lost.
    pub async fn preferred_rewrites(
        &self,
        guild: GuildId,
        member: MemberId,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut by_member = self.picks_of(guild, &[member], limit).await?;
        Ok(by_member.remove(&member).unwrap_or_default())
    }

    /// The server's persona win count over all picks.
    pub async fn compare_stats(&self, guild: GuildId) -> Result<CompareStats, StoreError> {
        let op = "read compare stats";
        let row = sqlx::query(
            "SELECT COUNT(*) AS picks, CAST(COALESCE(SUM(persona_won), 0) AS BIGINT) AS wins \
             FROM compare_picks \
             WHERE guild_id = $1",
        )
        .bind(guild.to_db())
        .fetch_one(self.pool())
        .await
        .map_err(db_err(op))?;
        let picks: i64 = row.try_get("picks").map_err(db_err(op))?;
        let wins: i64 = row.try_get("wins").map_err(db_err(op))?;
        Ok(CompareStats {
            persona_wins: wins.max(0) as u64,
            picks: picks.max(0) as u64,
        })
    }
}

/// The 95% Wilson score interval for `wins` successes in `n` trials, as (low, high) in [0, 1];
/// (0, 1) when there is no data. Better than the normal approximation for small n and rates
/// near 0 or 1, which is where a new server starts.
pub fn wilson_interval(wins: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = wins as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::wilson_interval;

    #[test]
    fn wilson_matches_reference_values() {
        // Reference values: the closed form evaluated independently in Python (float64).
        let (lo, hi) = wilson_interval(79, 100);
        assert!(
            (lo - 0.7002).abs() < 1e-4 && (hi - 0.8583).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson_interval(10, 10);
        assert!(
            (lo - 0.7225).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }
}
