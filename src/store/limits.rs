//! The limits on `/imagine` (checked in [`Store::accept`]'s insert), why a job was refused and
//! when to try again, a server's tightening of the limits (`guild_settings`), and the refusals
//! counted per server for `/stats` (`guild_refusals`).

use sqlx::Row;

use super::jobs::HOUR_MS;
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::{JobLimits, LimitKind, LimitRefusal, NewJob};
use crate::ids::GuildId;

/// Why a server refused something, as counted for `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// A limit on `/imagine` ([`LimitKind`]).
    Limit(LimitKind),
    /// The prompt matched the server's blocklist.
    Blocklist,
    /// The prompt matched the built-in list no server can turn off.
    BuiltInBlocklist,
    /// The safety check flagged the render, and it was not posted.
    Safety,
}

impl RefusalReason {
    /// Stable name (the `reason` column).
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Limit(kind) => kind.as_str(),
            RefusalReason::Blocklist => "blocklist",
            RefusalReason::BuiltInBlocklist => "blocklist_builtin",
            RefusalReason::Safety => "safety",
        }
    }
}

/// A column of `guild_settings` holding a server's tightening of `kind`.
pub(super) fn limit_column(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::MemberActive => "member_active_limit",
        LimitKind::MemberHourly => "member_hourly_limit",
        LimitKind::ServerActive => "server_active_limit",
        LimitKind::ServerHourly => "server_hourly_limit",
    }
}

impl Store {
    /// The limits in force in `guild`: the operator's, tightened by the server's own.
    pub async fn guild_limits(
        &self,
        guild: Option<GuildId>,
        operator: &JobLimits,
    ) -> Result<JobLimits, StoreError> {
        let Some(guild) = guild else {
            return Ok(*operator);
        };
        let row = sqlx::query(
            "SELECT member_active_limit, member_hourly_limit, server_active_limit, \
             server_hourly_limit FROM guild_settings WHERE guild_id = $1",
        )
        .bind(guild.to_db())
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read limits"))?;
        let Some(row) = row else {
            return Ok(*operator);
        };
        let value = |kind: LimitKind| -> Result<u32, StoreError> {
            let text: Option<String> = row
                .try_get(limit_column(kind))
                .map_err(db_err("read limits"))?;
            let own = text.and_then(|t| t.trim().parse::<u32>().ok());
            Ok(own.map_or(kind.of(*operator), |own| own.min(kind.of(*operator))))
        };
        Ok(JobLimits {
            member_active: value(LimitKind::MemberActive)?,
            member_hourly: value(LimitKind::MemberHourly)?,
            server_active: value(LimitKind::ServerActive)?,
            server_hourly: value(LimitKind::ServerHourly)?,
        })
    }

    /// Which limit refuses `job` now, and when to try again (None: none does). The hourly
    /// limits count images (a job of four counts four); a job of more images than an hourly
    /// limit never fits it, and its refusal names no time.
    pub(super) async fn limit_refusal(
        &self,
        job: &NewJob,
        operator: &JobLimits,
    ) -> Result<Option<LimitRefusal>, StoreError> {
        let op = "explain limit";
        let limits = self.guild_limits(job.guild_id, operator).await?;
        let since = now_ms() - HOUR_MS;
        // The count the insert settled on (see `accept::IMAGE_COUNT`).
        let images: i64 = sqlx::query(&format!(
            "SELECT {} AS n",
            // Renumbered: $1 the server, $2 the member, $3 the request's count.
            super::accept::IMAGE_COUNT
                .replace("$35", "$count")
                .replace("$3", "$2")
                .replace("$count", "$3")
        ))
        .bind(job.guild_id.map(GuildId::to_db))
        .bind(job.member_id.to_db())
        .bind(job.image_count.map(i64::from))
        .fetch_one(self.pool())
        .await
        .map_err(db_err(op))?
        .try_get("n")
        .map_err(db_err(op))?;
        for kind in LimitKind::ALL {
            let (column, key) = match kind {
                LimitKind::MemberActive | LimitKind::MemberHourly => {
                    ("member_id", job.member_id.to_db())
                }
                LimitKind::ServerActive | LimitKind::ServerHourly => match job.guild_id {
                    Some(guild) => ("guild_id", guild.to_db()),
                    None => continue,
                },
            };
            let limit = kind.of(limits);
            if !kind.hourly() {
                let count: i64 = sqlx::query(&format!(
                    "SELECT COUNT(*) AS n FROM render_jobs WHERE {column} = $1 \
                     AND status IN ('rewriting', 'queued', 'running')"
                ))
                .bind(key)
                .fetch_one(self.pool())
                .await
                .map_err(db_err(op))?
                .try_get("n")
                .map_err(db_err(op))?;
                if count < i64::from(limit) {
                    continue;
                }
                return Ok(Some(LimitRefusal {
                    kind,
                    limit,
                    retry_at_ms: None,
                }));
            }
            // The hour's jobs, oldest first, with their images.
            let rows = sqlx::query(&format!(
                "SELECT created_at, image_count FROM render_jobs \
                 WHERE {column} = $1 AND created_at > $2 ORDER BY created_at"
            ))
            .bind(key)
            .bind(since)
            .fetch_all(self.pool())
            .await
            .map_err(db_err(op))?;
            let jobs = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<i64, _>("created_at")?,
                        r.try_get::<i64, _>("image_count")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err(op))?;
            let mut used: i64 = jobs.iter().map(|(_, n)| n).sum();
            if used + images <= i64::from(limit) {
                continue;
            }
            // The job whose leaving the hour makes room for this one.
            let retry_at_ms = if images > i64::from(limit) {
                None
            } else {
                jobs.iter().find_map(|(at, n)| {
                    used -= n;
                    (used + images <= i64::from(limit)).then_some(at + HOUR_MS)
                })
            };
            return Ok(Some(LimitRefusal {
                kind,
                limit,
                retry_at_ms,
            }));
        }
        Ok(None)
    }

    /// Counts one refusal in `guild` for `/stats`.
    pub async fn count_refusal(
        &self,
        guild: GuildId,
        reason: RefusalReason,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO guild_refusals (guild_id, reason, count) VALUES ($1, $2, 1) \
             ON CONFLICT (guild_id, reason) DO UPDATE SET count = guild_refusals.count + 1",
        )
        .bind(guild.to_db())
        .bind(reason.as_str())
        .execute(self.pool())
        .await
        .map_err(db_err("count refusal"))?;
        Ok(())
    }

    /// The server's refusals by reason (names of [`RefusalReason::as_str`]), most first.
    pub async fn refusal_counts(&self, guild: GuildId) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT reason, count FROM guild_refusals WHERE guild_id = $1 \
             ORDER BY count DESC, reason",
        )
        .bind(guild.to_db())
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read refusals"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("reason")?,
                    row.try_get::<i64, _>("count")? as u64,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("read refusals"))
    }
}
