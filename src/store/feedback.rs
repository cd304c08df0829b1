//! Feedback on delivered renders (`render_feedback`, `render_jobs.message_id`): which message
//! carried each image, and the reactions its owner added to it — evidence of the images they
//! like.

use sqlx::Row;

use super::consent::{consented_sql, lock_consent};
use super::{db_err, now_ms, Store, StoreError};
use crate::ids::{GuildId, JobId, MemberId};

/// Feedback kind: the owner reacted to the message carrying their image.
pub const FEEDBACK_REACTED: &str = "reacted";

/// The most images a member keeps per server with `/persona add-image` (the oldest go).
pub const MAX_MEMBER_IMAGES: i64 = 20;

impl Store {
    /// Records which message carried job `id`'s image.
    pub async fn set_job_message(&self, id: JobId, message_id: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE render_jobs SET message_id = $1 WHERE id = $2")
            .bind(message_id as i64)
            .bind(id.0)
            .execute(self.pool())
            .await
            .map_err(db_err("record the delivered message"))?;
        Ok(())
    }

    /// Records `kind` feedback by `member` on the render carried by `message_id`, when that render
    /// is theirs, in this server, and they consent now (see `store/consent.rs`). Returns the job,
    /// or `None` when nothing was stored (no render of theirs, or no consent).
    pub async fn record_feedback(
        &self,
        guild: GuildId,
        message_id: u64,
        member: MemberId,
        kind: &str,
    ) -> Result<Option<JobId>, StoreError> {
        let op = "record feedback";
        let Some(job) = self.job_of_message(guild, message_id, member).await? else {
            return Ok(None);
        };
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        lock_consent(&mut tx, self.backend(), guild, member).await?;
        let done = sqlx::query(&format!(
            "INSERT INTO render_feedback (job_id, guild_id, member_id, kind, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE {} \
             ON CONFLICT (job_id, member_id, kind) DO NOTHING",
            consented_sql("$2", "$3")
        ))
        .bind(job.0)
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(kind)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        tx.commit().await.map_err(db_err(op))?;
        Ok((done.rows_affected() == 1).then_some(job))
    }

    /// Removes `kind` feedback by `member` on the render carried by `message_id`.
    pub async fn remove_feedback(
        &self,
        guild: GuildId,
        message_id: u64,
        member: MemberId,
        kind: &str,
    ) -> Result<bool, StoreError> {
        let Some(job) = self.job_of_message(guild, message_id, member).await? else {
            return Ok(false);
        };
        let done = sqlx::query(
            "DELETE FROM render_feedback WHERE job_id = $1 AND member_id = $2 AND kind = $3",
        )
        .bind(job.0)
        .bind(member.to_db())
        .bind(kind)
        .execute(self.pool())
        .await
        .map_err(db_err("remove feedback"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn job_of_message(
        &self,
        guild: GuildId,
        message_id: u64,
        member: MemberId,
    ) -> Result<Option<JobId>, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM render_jobs WHERE message_id = $1 AND guild_id = $2 AND member_id = $3",
        )
        .bind(message_id as i64)
        .bind(guild.to_db())
        .bind(member.to_db())
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("find the render of a message"))?;
        row.map(|r| r.try_get::<i64, _>("id").map(JobId))
            .transpose()
            .map_err(db_err("find the render of a message"))
    }

    /// The rendered prompts of the member's renders they gave `kind` feedback, newest first.
    pub async fn liked_prompts(
        &self,
        guild: GuildId,
        member: MemberId,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut by_member = self
            .liked_of(guild, &[member], kind, limit.max(0) as usize)
            .await?;
        Ok(by_member.remove(&member).unwrap_or_default())
    }
}

/// Little-endian f32 bytes of an embedding.
fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Store {
    /// Stores the CLIP embedding of job `id`'s image (once; a retried job keeps the first), only
    /// for a member who consents now, in a server with inference on, and while the job exists
    /// (never for DMs: they belong to no server). True when stored.
    pub async fn add_image_embedding(
        &self,
        id: JobId,
        guild: Option<GuildId>,
        member: MemberId,
        embedding: &[f32],
    ) -> Result<bool, StoreError> {
        let Some(guild) = guild else {
            return Ok(false);
        };
        let op = "store an image embedding";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        lock_consent(&mut tx, self.backend(), guild, member).await?;
        let done = sqlx::query(&format!(
            "INSERT INTO image_embeddings (job_id, guild_id, member_id, embedding, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE {} \
             AND EXISTS (SELECT 1 FROM render_jobs j WHERE j.id = $1 AND j.member_id = $3) \
             ON CONFLICT (job_id) DO NOTHING",
            consented_sql("$2", "$3")
        ))
        .bind(id.0)
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(to_bytes(embedding))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        tx.commit().await.map_err(db_err(op))?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the CLIP embedding of an image the member handed over (`/persona add-image`), only
    /// while they consent and the server's inference is on. True when stored.
    pub async fn add_member_image(
        &self,
        guild: GuildId,
        member: MemberId,
        embedding: &[f32],
    ) -> Result<bool, StoreError> {
        let op = "store a member's image";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        lock_consent(&mut tx, self.backend(), guild, member).await?;
        let done = sqlx::query(&format!(
            "INSERT INTO member_images (guild_id, member_id, embedding, created_at) \
             SELECT $1, $2, $3, $4 WHERE {}",
            consented_sql("$1", "$2")
        ))
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(to_bytes(embedding))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        // Only the member's newest images are kept.
        sqlx::query(
            "DELETE FROM member_images WHERE guild_id = $1 AND member_id = $2 \
             AND id NOT IN (SELECT id FROM member_images WHERE guild_id = $1 AND member_id = $2 \
                 ORDER BY id DESC LIMIT $3)",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(MAX_MEMBER_IMAGES)
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        tx.commit().await.map_err(db_err(op))?;
        Ok(done.rows_affected() == 1)
    }

    /// The images members of the server engaged with, as `(member, embedding)`: every render
    /// they kept, except the persona side of a comparison they decided against, and the images
    /// they handed over.
    pub async fn engaged_images(
        &self,
        guild: GuildId,
    ) -> Result<Vec<(MemberId, Vec<f32>)>, StoreError> {
        let sql = engaged_images_sql("");
        let rows = sqlx::query(&sql)
            .bind(guild.to_db())
            .fetch_all(self.pool())
            .await
            .map_err(db_err("read image embeddings"))?;
        read_images(&rows)
    }

    /// [`Store::engaged_images`] of some members only (in the same order per member).
    pub(super) async fn engaged_images_of(
        &self,
        guild: GuildId,
        members: &[MemberId],
    ) -> Result<Vec<(MemberId, Vec<f32>)>, StoreError> {
        let ids: Vec<i64> = members.iter().map(|m| m.to_db()).collect();
        let rows = super::persona_pass::rows_in(
            self,
            "read image embeddings",
            &engaged_images_sql("AND member_id IN ({ids})"),
            &ids,
            &|q| q.bind(guild.to_db()),
            2,
        )
        .await?;
        read_images(&rows)
    }
}

/// The query of [`Store::engaged_images`], `filter` added to both halves (`$1`: the server).
fn engaged_images_sql(filter: &str) -> String {
    format!(
        "SELECT member_id, embedding FROM ( \
           SELECT e.member_id, e.embedding, e.created_at, 0 AS kind, e.job_id AS n \
           FROM image_embeddings e WHERE e.guild_id = $1 {filter} \
           AND NOT EXISTS (SELECT 1 FROM compare_picks p WHERE p.job_id = e.job_id \
                           AND p.persona_won = 0) \
           UNION ALL SELECT i.member_id, i.embedding, i.created_at, 1 AS kind, i.id AS n \
           FROM member_images i WHERE i.guild_id = $1 {filter} \
         ) images ORDER BY kind, n"
    )
}

fn read_images(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(MemberId, Vec<f32>)>, StoreError> {
    rows.iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get("embedding")?;
            Ok((
                MemberId::from_db(r.try_get("member_id")?),
                from_bytes(&bytes),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_err("read image embeddings"))
}
