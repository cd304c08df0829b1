//! Gateway events → [`crate::ingest::Event`]s (metadata only) and channel/role node updates.
//! Bots (including zipp itself) are ignored; so are DMs.

use poise::serenity_prelude as serenity;

use super::BotData;
use crate::ids::{GuildId, MemberId};
use crate::ingest::Event;
use crate::store::{GraphNode, StoreError, FEEDBACK_REACTED};

/// The parent channel of a thread, or the channel itself.
fn parent_channel(
    ctx: &serenity::Context,
    guild: serenity::GuildId,
    channel: serenity::ChannelId,
) -> u64 {
    ctx.cache
        .guild(guild)
        .and_then(|g| {
            g.threads
                .iter()
                .find(|t| t.id == channel)
                .and_then(|t| t.parent_id)
        })
        .unwrap_or(channel)
        .get()
}

pub(super) fn millis(timestamp: &serenity::Timestamp) -> i64 {
    timestamp.unix_timestamp() * 1000
}

fn channel_node(channel: &serenity::GuildChannel) -> Option<GraphNode> {
    matches!(
        channel.kind,
        serenity::ChannelType::Text | serenity::ChannelType::News | serenity::ChannelType::Forum
    )
    .then(|| GraphNode {
        kind: "channel".to_owned(),
        node_id: channel.id.get(),
        name: channel.name.clone(),
        topic: channel.topic.clone(),
    })
}

fn role_node(role: &serenity::Role) -> GraphNode {
    GraphNode {
        kind: "role".to_owned(),
        node_id: role.id.get(),
        name: role.name.clone(),
        topic: None,
    }
}

/// A reaction on one of the bot's messages by a consenting member: when the message carries
/// their own render, it becomes (or stops being) feedback that they like that image.
async fn render_feedback(
    ctx: &serenity::Context,
    r: &serenity::Reaction,
    data: &BotData,
    added: bool,
) -> Result<(), StoreError> {
    let (Some(guild), Some(user)) = (r.guild_id, r.user_id) else {
        return Ok(());
    };
    // REACTION_ADD names the message's author; REACTION_REMOVE does not, and looking the
    // message up among the member's own renders is exact anyway.
    let bot = ctx.cache.current_user().id;
    if user == bot || (added && r.message_author_id != Some(bot)) {
        return Ok(());
    }
    let (guild, member) = (GuildId(guild.get()), MemberId(user.get()));
    if added {
        if !data.ingestor.recording(guild, member).await? {
            return Ok(());
        }
        let job = data
            .store
            .record_feedback(guild, r.message_id.get(), member, FEEDBACK_REACTED)
            .await?;
        if let Some(job) = job {
            tracing::debug!(%guild, %member, %job, "reaction on a render recorded as feedback");
        }
    } else {
        data.store
            .remove_feedback(guild, r.message_id.get(), member, FEEDBACK_REACTED)
            .await?;
    }
    Ok(())
}

/// Handles one gateway event; errors are logged, never shown.
pub async fn on_event(ctx: &serenity::Context, event: &serenity::FullEvent, data: &BotData) {
    let result = match event {
        serenity::FullEvent::Message { new_message: m } => match m.guild_id {
            Some(guild) if !m.author.bot => {
                let reply_to = m
                    .referenced_message
                    .as_ref()
                    .filter(|r| !r.author.bot)
                    .map(|r| MemberId(r.author.id.get()));
                let event = Event::Message {
                    guild: GuildId(guild.get()),
                    author: MemberId(m.author.id.get()),
                    channel: parent_channel(ctx, guild, m.channel_id),
                    reply_to,
                    mentions: m
                        .mentions
                        .iter()
                        .filter(|u| !u.bot)
                        .map(|u| MemberId(u.id.get()))
                        .collect(),
                    roles: m
                        .member
                        .as_ref()
                        .map(|member| member.roles.iter().map(|r| r.get()).collect())
                        .unwrap_or_default(),
                    at: millis(&m.timestamp),
                };
                data.ingestor.record(event).await
            }
            _ => Ok(()),
        },
        serenity::FullEvent::ReactionAdd { add_reaction: r } => match (r.guild_id, r.user_id) {
            (Some(guild), Some(user)) if r.member.as_ref().is_none_or(|m| !m.user.bot) => {
                let event = Event::Reaction {
                    guild: GuildId(guild.get()),
                    member: MemberId(user.get()),
                    channel: parent_channel(ctx, guild, r.channel_id),
                    at: crate::store::now_ms(),
                };
                let recorded = data.ingestor.record(event).await;
                recorded.and(render_feedback(ctx, r, data, true).await)
            }
            _ => Ok(()),
        },
        serenity::FullEvent::ReactionRemove {
            removed_reaction: r,
        } => match (r.guild_id, r.user_id) {
            (Some(guild), Some(user)) => {
                let event = Event::ReactionRemoved {
                    guild: GuildId(guild.get()),
                    member: MemberId(user.get()),
                    channel: parent_channel(ctx, guild, r.channel_id),
                };
                let recorded = data.ingestor.record(event).await;
                recorded.and(render_feedback(ctx, r, data, false).await)
            }
            _ => Ok(()),
        },
        serenity::FullEvent::ChannelCreate { channel }
        | serenity::FullEvent::ChannelUpdate { new: channel, .. } => match channel_node(channel) {
            Some(node) => {
                data.store
                    .upsert_node(GuildId(channel.guild_id.get()), &node)
                    .await
            }
            None => Ok(()),
        },
        serenity::FullEvent::ChannelDelete { channel, .. } => {
            data.store
                .delete_node(GuildId(channel.guild_id.get()), "channel", channel.id.get())
                .await
        }
        serenity::FullEvent::GuildRoleCreate { new }
        | serenity::FullEvent::GuildRoleUpdate { new, .. } => {
            data.store
                .upsert_node(GuildId(new.guild_id.get()), &role_node(new))
                .await
        }
        serenity::FullEvent::GuildRoleDelete {
            guild_id,
            removed_role_id,
            ..
        } => {
            data.store
                .delete_node(GuildId(guild_id.get()), "role", removed_role_id.get())
                .await
        }
        serenity::FullEvent::GuildDelete { incomplete, .. } if !incomplete.unavailable => {
            // Removed from the server (not an outage): its data goes after the grace period.
            let guild = GuildId(incomplete.id.get());
            tracing::info!(%guild, grace_days = data.config.retention.guild_grace_days, "removed from a server; its data will be erased after the grace period");
            data.store.guild_left(guild).await
        }
        serenity::FullEvent::GuildCreate { guild, .. } => {
            let gid = GuildId(guild.id.get());
            let mut result = match data.store.guild_joined(gid).await {
                Ok(true) => {
                    tracing::info!(guild = %gid, "added back to a server; its pending erasure is cancelled");
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(error) => Err(error),
            };
            for node in guild
                .channels
                .values()
                .filter_map(channel_node)
                .chain(guild.roles.values().map(role_node))
            {
                result = result.and(data.store.upsert_node(gid, &node).await);
            }
            result
        }
        _ => Ok(()),
    };
    if let Err(error) = result {
        tracing::error!(%error, event = event.snake_case_name(), "handling a gateway event failed");
    }
}
