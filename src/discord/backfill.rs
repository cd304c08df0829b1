//! History backfill: in servers whose moderators turned it on (`/config backfill on`), a member's
//! consent also records the metadata of their recent messages — channel, reply target, mentions,
//! time; never text — read page by page from the channels the bot can see, bounded by
//! `ingest.backfill_days`, `ingest.backfill_messages` and `ingest.backfill_pages`, at most one
//! page per `ingest.backfill_page_ms`, [`MAX_BACKFILLS`] members at a time. It runs once per
//! member and server: the store's marker ([`crate::store::Store::claim_backfill`]) is claimed
//! before it starts, so consenting again (even after a withdrawal) starts no second one. Events
//! go through the ingestor like live ones (so non-consenting members stay out of it), then the
//! member's persona is inferred.

use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;

use super::BotData;

/// How many members' backfills run at once (the others wait their turn).
pub const MAX_BACKFILLS: usize = 2;

/// The backfills of this process: turns ([`MAX_BACKFILLS`] at once) and the members whose
/// backfill is queued or running (one at a time per member, even when `/persona forget` reset
/// the marker in between).
#[derive(Debug)]
pub struct Backfills {
    turns: Arc<tokio::sync::Semaphore>,
    running: Arc<dashmap::DashSet<(GuildId, MemberId)>>,
}

impl Default for Backfills {
    fn default() -> Self {
        Self {
            turns: Arc::new(tokio::sync::Semaphore::new(MAX_BACKFILLS)),
            running: Arc::new(dashmap::DashSet::new()),
        }
    }
}

/// Takes the member out of [`Backfills::running`] when their backfill task ends, however.
struct Running(
    Arc<dashmap::DashSet<(GuildId, MemberId)>>,
    (GuildId, MemberId),
);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}
use crate::ids::{GuildId, MemberId};
use crate::ingest::Event;
use crate::store::StoreError;

/// After a member consented (also again: every step is at most once): backfill when the server
/// allows it and the member's backfill was never claimed, in the background, then infer their
/// persona; without backfill, infer at once (at most once per cooldown:
/// [`crate::lifecycle::PersonaService::on_consent`]).
pub async fn after_consent(
    ctx: &serenity::Context,
    data: &BotData,
    guild: GuildId,
    member: MemberId,
) -> Result<(), StoreError> {
    let settings = data.store.guild_settings(guild).await?;
    let cfg = data.config.ingest.clone();
    if !settings.backfill_on()
        || cfg.backfill_days == 0
        || cfg.backfill_messages == 0
        || cfg.backfill_pages == 0
        || data.backfills.running.contains(&(guild, member))
        || !data.store.claim_backfill(guild, member).await?
    {
        data.personas.on_consent(guild, member);
        return Ok(());
    }
    data.backfills.running.insert((guild, member));
    let running = Running(Arc::clone(&data.backfills.running), (guild, member));
    // Text channels the bot knows (the cache reference is dropped before any await).
    let channels: Vec<serenity::ChannelId> = ctx
        .cache
        .guild(serenity::GuildId::new(guild.0))
        .map(|g| {
            let mut ids: Vec<_> = g
                .channels
                .values()
                .filter(|c| {
                    matches!(
                        c.kind,
                        serenity::ChannelType::Text | serenity::ChannelType::News
                    )
                })
                .map(|c| c.id)
                .collect();
            ids.sort_unstable();
            ids
        })
        .unwrap_or_default();
    let http = ctx.http.clone();
    let ingestor = data.ingestor.clone();
    let personas = data.personas.clone();
    let turns = Arc::clone(&data.backfills.turns);
    tokio::spawn(async move {
        let _running = running;
        // The semaphore is never closed.
        let Ok(_turn) = turns.acquire_owned().await else {
            return;
        };
        let cutoff = crate::store::now_ms() - (cfg.backfill_days as i64) * 86_400_000;
        let pause = Duration::from_millis(cfg.backfill_page_ms);
        let mut found = 0usize;
        let mut pages = 0usize;
        'channels: for channel in channels {
            let mut before: Option<serenity::MessageId> = None;
            loop {
                match ingestor.recording(guild, member).await {
                    Ok(true) => {}
                    // Consent withdrawn (or inference turned off) meanwhile: stop.
                    _ => break 'channels,
                }
                if pages >= cfg.backfill_pages {
                    break 'channels;
                }
                if pages > 0 {
                    tokio::time::sleep(pause).await;
                }
                pages += 1;
                let mut request = serenity::GetMessages::new().limit(100);
                if let Some(id) = before {
                    request = request.before(id);
                }
                let messages = match channel.messages(&http, request).await {
                    Ok(messages) => messages,
                    Err(error) => {
                        // No access to this channel's history: skip it.
                        tracing::debug!(%guild, %channel, %error, "backfill: channel skipped");
                        break;
                    }
                };
                let Some(oldest) = messages.last().map(|m| m.id) else {
                    break;
                };
                for m in &messages {
                    let at = super::events::millis(&m.timestamp);
                    if at < cutoff {
                        continue 'channels;
                    }
                    if m.author.id.get() != member.0 || m.author.bot {
                        continue;
                    }
                    let event = Event::Message {
                        guild,
                        author: member,
                        channel: channel.get(),
                        reply_to: m
                            .referenced_message
                            .as_ref()
                            .filter(|r| !r.author.bot)
                            .map(|r| MemberId(r.author.id.get())),
                        mentions: m
                            .mentions
                            .iter()
                            .filter(|u| !u.bot)
                            .map(|u| MemberId(u.id.get()))
                            .collect(),
                        roles: Vec::new(),
                        at,
                    };
                    if let Err(error) = ingestor.record(event).await {
                        tracing::error!(%guild, %member, %error, "backfill: recording failed");
                        break 'channels;
                    }
                    found += 1;
                    if found >= cfg.backfill_messages {
                        break 'channels;
                    }
                }
                if messages.len() < 100 {
                    break;
                }
                before = Some(oldest);
            }
        }
        if let Err(error) = ingestor.flush().await {
            tracing::error!(%guild, %member, %error, "backfill: flush failed");
        }
        tracing::info!(%guild, %member, messages = found, pages, "history backfill done");
        personas.on_consent(guild, member);
    });
    Ok(())
}
