//! Payload builders for gateway events and REST objects, as serenity 0.12.5 accepts them.
//!
//! Every builder returns a plain [`serde_json::Value`]: tests can tweak any key before
//! dispatching (e.g. `v["data"]["resolved"] = …`). The keys included are the ones the notes
//! (`shared/notes/discord-offline-testing.md` §2.3) found mandatory; serenity turns an event
//! missing one of them into `Event::Unknown` and drops it *silently*, so don't remove keys
//! without a guard. User and message objects also carry the keys Discord's OpenAPI spec marks
//! required, so the fake can return them from REST unchanged.

use serde_json::{json, Value};

use crate::FakeDiscordConfig;

/// Permissions of `@everyone` in the fake guild, of interaction members and `app_permissions`
/// (view, send, embed, attach, read history, add reactions, use slash commands, …).
pub const EVERYONE_PERMISSIONS: &str = "1071698660929";
/// The bot user's username.
pub const BOT_USERNAME: &str = "zipp";
/// Default user id for [`InteractionBuilder`].
pub const DEFAULT_USER_ID: u64 = 400_000_000_000_000_001;
/// Default username for [`InteractionBuilder`].
pub const DEFAULT_USERNAME: &str = "alice";
/// Default command id in application-command interactions (poise matches by name, not id).
pub const DEFAULT_COMMAND_ID: u64 = 600_000_000_000_000_001;
/// `attachment_size_limit` Discord sends for unboosted guilds (10 MiB).
pub const DEFAULT_ATTACHMENT_SIZE_LIMIT: u64 = 10_485_760;
/// Timestamp used for `joined_at` and fixture messages.
pub const FIXED_TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";

/// A user object: the `{id, username}` serenity needs plus the keys the spec requires.
pub fn user(id: u64, username: &str) -> Value {
    json!({
        "id": id.to_string(),
        "username": username,
        "avatar": null,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "global_name": null,
        "primary_guild": null,
    })
}

/// The bot's own user (`id` = `cfg.app_id`, `bot: true`).
pub fn bot_user(cfg: &FakeDiscordConfig) -> Value {
    let mut u = user(cfg.app_id, BOT_USERNAME);
    u["bot"] = json!(true);
    u
}

/// A full guild member of `user`. `flags` is easy to forget and without it serenity drops the
/// event; `permissions` is only sent in interactions (poise's permission checks need it).
pub fn member(user: Value, permissions: Option<&str>) -> Value {
    let mut m = json!({
        "user": user,
        "roles": [],
        "joined_at": FIXED_TIMESTAMP,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
    });
    if let Some(p) = permissions {
        m["permissions"] = json!(p);
    }
    m
}

/// READY `d` for a session: the bot user, the guild as unavailable (GUILD_CREATE follows) and
/// `application{id, flags}` (serenity takes the HTTP application id from it; `flags` is
/// mandatory). `shard` echoes the IDENTIFY's `shard` (omitted when null).
pub fn ready(cfg: &FakeDiscordConfig, gateway_url: &str, session_id: &str, shard: Value) -> Value {
    let mut d = json!({
        "v": 10,
        "user": bot_user(cfg),
        "guilds": [{"id": cfg.guild_id.to_string(), "unavailable": true}],
        "session_id": session_id,
        "resume_gateway_url": gateway_url,
        "application": {"id": cfg.app_id.to_string(), "flags": 0},
    });
    if !shard.is_null() {
        d["shard"] = shard;
    }
    d
}

/// GUILD_CREATE `d`: one `@everyone` role (with the `colors` key, without which serenity drops
/// the whole event), one text channel `cfg.channel_id`, and no bot member (so serenity's cache
/// permission pre-checks are skipped instead of refusing to send).
pub fn guild_create(cfg: &FakeDiscordConfig) -> Value {
    let guild = cfg.guild_id.to_string();
    json!({
        "id": guild,
        "name": "zipp-test",
        "icon": null,
        "owner_id": cfg.owner_id.to_string(),
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [{
            "id": guild,
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "position": 0,
            "permissions": EVERYONE_PERMISSIONS,
            "managed": false,
            "mentionable": false,
        }],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_flags": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "joined_at": FIXED_TIMESTAMP,
        "large": false,
        "unavailable": false,
        "member_count": 2,
        "voice_states": [],
        "members": [],
        "channels": [{
            "id": cfg.channel_id.to_string(),
            "type": 0,
            "guild_id": guild,
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": false,
            "topic": null,
            "rate_limit_per_user": 0,
        }],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
    })
}

/// A message object as REST returns it and MESSAGE_CREATE carries it (serenity's 13 mandatory
/// keys plus the spec's `edited_timestamp`, `flags`, `components`).
pub fn message(message_id: u64, channel_id: u64, author: Value, content: &str) -> Value {
    json!({
        "id": message_id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": content,
        "timestamp": FIXED_TIMESTAMP,
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [],
    })
}

/// MESSAGE_CREATE `d` for a user message in the fake guild's channel (with `guild_id` and a
/// partial `member`, as Discord sends for guild messages).
pub fn message_create(
    cfg: &FakeDiscordConfig,
    message_id: u64,
    user_id: u64,
    username: &str,
    content: &str,
) -> Value {
    let mut m = message(message_id, cfg.channel_id, user(user_id, username), content);
    m["guild_id"] = json!(cfg.guild_id.to_string());
    m["member"] = json!({
        "roles": [],
        "joined_at": FIXED_TIMESTAMP,
        "deaf": false,
        "mute": false,
        "flags": 0,
    });
    m
}

/// A message the bot posted earlier in `cfg.channel_id`, e.g. the `message` of a button press.
/// Pass `components` such as [`button_row`]s.
pub fn bot_message(
    cfg: &FakeDiscordConfig,
    message_id: u64,
    content: &str,
    components: Vec<Value>,
) -> Value {
    let mut m = message(message_id, cfg.channel_id, bot_user(cfg), content);
    m["guild_id"] = json!(cfg.guild_id.to_string());
    m["components"] = Value::Array(components);
    m
}

/// An action row (as Discord returns it, with component `id`s) of primary buttons
/// `(custom_id, label)`.
pub fn button_row(buttons: &[(&str, &str)]) -> Value {
    let components: Vec<Value> = buttons
        .iter()
        .zip(2..)
        .map(|((custom_id, label), id)| {
            json!({"type": 2, "id": id, "style": 1, "custom_id": custom_id, "label": label})
        })
        .collect();
    json!({"type": 1, "id": 1, "components": components})
}

/// MESSAGE_REACTION_ADD `d`: `user_id` reacted with the unicode `emoji` (e.g. `"🔥"`) on
/// `message_id` in the fake guild's channel. `burst` and `type` are mandatory for serenity.
pub fn reaction_add(
    cfg: &FakeDiscordConfig,
    user_id: u64,
    username: &str,
    message_id: u64,
    emoji: &str,
) -> Value {
    json!({
        "user_id": user_id.to_string(),
        "channel_id": cfg.channel_id.to_string(),
        "message_id": message_id.to_string(),
        "guild_id": cfg.guild_id.to_string(),
        "member": member(user(user_id, username), None),
        "emoji": {"id": null, "name": emoji},
        "burst": false,
        "burst_colors": [],
        "type": 0,
    })
}

/// A string option `{"name","type":3,"value"}` of an application command interaction.
pub fn opt_str(name: &str, value: &str) -> Value {
    json!({"name": name, "type": 3, "value": value})
}

/// An integer option (`type` 4).
pub fn opt_int(name: &str, value: i64) -> Value {
    json!({"name": name, "type": 4, "value": value})
}

/// A boolean option (`type` 5).
pub fn opt_bool(name: &str, value: bool) -> Value {
    json!({"name": name, "type": 5, "value": value})
}

/// A number option (`type` 10).
pub fn opt_number(name: &str, value: f64) -> Value {
    json!({"name": name, "type": 10, "value": value})
}

/// A subcommand (`type` 1) wrapping its own options.
pub fn opt_sub(name: &str, options: Vec<Value>) -> Value {
    json!({"name": name, "type": 1, "options": options})
}

/// Builds INTERACTION_CREATE payloads with every key serenity and poise need.
///
/// Defaults: a guild interaction in `cfg.guild_id`/`cfg.channel_id` by user
/// [`DEFAULT_USER_ID`] ("alice"), locale `en-US`, `attachment_size_limit` 10 MiB, member and
/// app permissions [`EVERYONE_PERMISSIONS`]. Chain setters, then call [`command`],
/// [`button`], [`select`] or [`modal_submit`]:
///
/// ```
/// use fake_discord::{fixtures::{self, InteractionBuilder}, FakeDiscordConfig};
/// let cfg = FakeDiscordConfig::default();
/// let d = InteractionBuilder::new(&cfg, 900_000_000_000_000_001, "tok")
///     .user(400_000_000_000_000_002, "bob")
///     .locale("de")
///     .attachment_size_limit(8 * 1024 * 1024)
///     .command("imagine", vec![fixtures::opt_str("prompt", "a red cat")]);
/// assert_eq!(d["type"], 2);
/// assert_eq!(d["member"]["user"]["username"], "bob");
/// ```
///
/// [`command`]: InteractionBuilder::command
/// [`button`]: InteractionBuilder::button
/// [`select`]: InteractionBuilder::select
/// [`modal_submit`]: InteractionBuilder::modal_submit
#[derive(Clone, Debug)]
pub struct InteractionBuilder {
    app_id: u64,
    guild_id: Option<u64>,
    channel_id: u64,
    interaction_id: u64,
    token: String,
    user_id: u64,
    username: String,
    locale: String,
    guild_locale: String,
    attachment_size_limit: u64,
    app_permissions: String,
    member_permissions: String,
    roles: Vec<u64>,
    command_id: u64,
}

impl InteractionBuilder {
    /// A guild interaction with id `interaction_id` and `token` (the token the bot uses for
    /// its callback and followups; the fake accepts those only for dispatched tokens).
    pub fn new(cfg: &FakeDiscordConfig, interaction_id: u64, token: &str) -> Self {
        Self {
            app_id: cfg.app_id,
            guild_id: Some(cfg.guild_id),
            channel_id: cfg.channel_id,
            interaction_id,
            token: token.to_owned(),
            user_id: DEFAULT_USER_ID,
            username: DEFAULT_USERNAME.to_owned(),
            locale: "en-US".to_owned(),
            guild_locale: "en-US".to_owned(),
            attachment_size_limit: DEFAULT_ATTACHMENT_SIZE_LIMIT,
            app_permissions: EVERYONE_PERMISSIONS.to_owned(),
            member_permissions: EVERYONE_PERMISSIONS.to_owned(),
            roles: Vec::new(),
            command_id: DEFAULT_COMMAND_ID,
        }
    }

    /// The invoking user.
    pub fn user(mut self, user_id: u64, username: &str) -> Self {
        self.user_id = user_id;
        username.clone_into(&mut self.username);
        self
    }

    /// The user's client locale (`locale`), e.g. `de`, `pt-BR`.
    pub fn locale(mut self, locale: &str) -> Self {
        locale.clone_into(&mut self.locale);
        self
    }

    /// The guild's preferred locale (`guild_locale`).
    pub fn guild_locale(mut self, locale: &str) -> Self {
        locale.clone_into(&mut self.guild_locale);
        self
    }

    /// Largest upload the bot may send in its responses (`attachment_size_limit`, bytes).
    pub fn attachment_size_limit(mut self, bytes: u64) -> Self {
        self.attachment_size_limit = bytes;
        self
    }

    /// The bot's permissions in the channel (`app_permissions`, decimal string).
    pub fn app_permissions(mut self, permissions: &str) -> Self {
        permissions.clone_into(&mut self.app_permissions);
        self
    }

    /// The invoking member's permissions (`member.permissions`, decimal string).
    pub fn member_permissions(mut self, permissions: &str) -> Self {
        permissions.clone_into(&mut self.member_permissions);
        self
    }

    /// The invoking member's role ids.
    pub fn roles(mut self, roles: Vec<u64>) -> Self {
        self.roles = roles;
        self
    }

    /// The channel the interaction happens in.
    pub fn channel_id(mut self, channel_id: u64) -> Self {
        self.channel_id = channel_id;
        self
    }

    /// `data.id` of command interactions.
    pub fn command_id(mut self, command_id: u64) -> Self {
        self.command_id = command_id;
        self
    }

    /// Makes it an interaction in server `guild_id` (another than the fake's own).
    pub fn guild(mut self, guild_id: u64) -> Self {
        self.guild_id = Some(guild_id);
        self
    }

    /// Makes it a DM interaction: no `guild_id`/`member`/`guild_locale`, a top-level `user`,
    /// `context` 1 (bot DM). Set a DM channel with [`InteractionBuilder::channel_id`].
    pub fn dm(mut self) -> Self {
        self.guild_id = None;
        self
    }

    /// APPLICATION_COMMAND (`type` 2) for slash command `name` with `options` built by
    /// [`opt_str`], [`opt_int`], … (for subcommands wrap them in [`opt_sub`]).
    pub fn command(&self, name: &str, options: Vec<Value>) -> Value {
        self.interaction(
            2,
            json!({
                "id": self.command_id.to_string(),
                "name": name,
                "type": 1,
                "options": options,
            }),
            None,
        )
    }

    /// APPLICATION_COMMAND_AUTOCOMPLETE (`type` 4): the member is typing option `focused` of
    /// slash command `name` (its partial value `partial`), the other options as `options`.
    pub fn autocomplete(
        &self,
        name: &str,
        mut options: Vec<Value>,
        focused: &str,
        partial: &str,
    ) -> Value {
        options.push(json!({"name": focused, "type": 3, "value": partial, "focused": true}));
        self.interaction(
            4,
            json!({
                "id": self.command_id.to_string(),
                "name": name,
                "type": 1,
                "options": options,
            }),
            None,
        )
    }

    /// MESSAGE_COMPONENT (`type` 3): a press of button `custom_id` on `message` (e.g. a
    /// [`bot_message`] with a [`button_row`]).
    pub fn button(&self, custom_id: &str, message: Value) -> Value {
        self.interaction(
            3,
            json!({"custom_id": custom_id, "component_type": 2}),
            Some(message),
        )
    }

    /// MESSAGE_COMPONENT (`type` 3): string select `custom_id` on `message` with `values` picked.
    pub fn select(&self, custom_id: &str, values: &[&str], message: Value) -> Value {
        self.interaction(
            3,
            json!({"custom_id": custom_id, "component_type": 3, "values": values}),
            Some(message),
        )
    }

    /// MODAL_SUBMIT (`type` 5) of modal `custom_id`: one action row per `(input custom_id,
    /// value)` text input, as Discord sends them.
    pub fn modal_submit(&self, custom_id: &str, fields: &[(&str, &str)]) -> Value {
        let rows: Vec<Value> = fields
            .iter()
            .map(|(id, value)| {
                json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]})
            })
            .collect();
        self.interaction(5, json!({"custom_id": custom_id, "components": rows}), None)
    }

    fn interaction(&self, kind: u8, data: Value, message: Option<Value>) -> Value {
        let mut d = json!({
            "id": self.interaction_id.to_string(),
            "application_id": self.app_id.to_string(),
            "type": kind,
            "data": data,
            "channel_id": self.channel_id.to_string(),
            "token": self.token,
            "version": 1,
            "app_permissions": self.app_permissions,
            "locale": self.locale,
            "entitlements": [],
            "attachment_size_limit": self.attachment_size_limit,
        });
        let invoker = user(self.user_id, &self.username);
        match self.guild_id {
            Some(guild) => {
                let mut m = member(invoker, Some(&self.member_permissions));
                m["roles"] = json!(self
                    .roles
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>());
                d["guild_id"] = json!(guild.to_string());
                d["guild_locale"] = json!(self.guild_locale);
                d["member"] = m;
                d["context"] = json!(0);
                d["authorizing_integration_owners"] = json!({"0": guild.to_string()});
            }
            None => {
                d["user"] = invoker;
                d["context"] = json!(1);
                // Guild-installed app used in a DM: Discord sends guild id "0".
                d["authorizing_integration_owners"] = json!({"0": "0"});
            }
        }
        if let Some(m) = message {
            d["message"] = m;
        }
        d
    }
}

/// A guild APPLICATION_COMMAND INTERACTION_CREATE `d`; shorthand for
/// [`InteractionBuilder::command`] with a given user.
pub fn interaction_command(
    cfg: &FakeDiscordConfig,
    interaction_id: u64,
    token: &str,
    user_id: u64,
    username: &str,
    command_name: &str,
    options: Vec<Value>,
) -> Value {
    InteractionBuilder::new(cfg, interaction_id, token)
        .user(user_id, username)
        .command(command_name, options)
}

/// A guild button-press INTERACTION_CREATE `d`; shorthand for [`InteractionBuilder::button`].
pub fn interaction_component(
    cfg: &FakeDiscordConfig,
    interaction_id: u64,
    token: &str,
    user_id: u64,
    username: &str,
    custom_id: &str,
    message: Value,
) -> Value {
    InteractionBuilder::new(cfg, interaction_id, token)
        .user(user_id, username)
        .button(custom_id, message)
}

/// A guild MODAL_SUBMIT INTERACTION_CREATE `d`; shorthand for
/// [`InteractionBuilder::modal_submit`].
pub fn interaction_modal_submit(
    cfg: &FakeDiscordConfig,
    interaction_id: u64,
    token: &str,
    user_id: u64,
    username: &str,
    custom_id: &str,
    fields: &[(&str, &str)],
) -> Value {
    InteractionBuilder::new(cfg, interaction_id, token)
        .user(user_id, username)
        .modal_submit(custom_id, fields)
}

/// `GET /oauth2/applications/@me`: what serenity's `CurrentApplicationInfo` needs plus every
/// key the spec's `PrivateApplicationResponse` requires.
pub fn application(cfg: &FakeDiscordConfig) -> Value {
    json!({
        "id": cfg.app_id.to_string(),
        "name": BOT_USERNAME,
        "icon": null,
        "description": "",
        "type": null,
        "bot": bot_user(cfg),
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": 0,
        "flags_new": "0",
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "owner": user(cfg.owner_id, "owner"),
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": null,
        "eligible_oauth2_scopes": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_interaction_has_mandatory_keys() {
        let cfg = FakeDiscordConfig::default();
        let d = interaction_command(&cfg, 9, "tok", 4, "alice", "imagine", vec![opt_int("n", 2)]);
        for key in [
            "id",
            "application_id",
            "type",
            "data",
            "channel_id",
            "token",
            "version",
            "locale",
            "entitlements",
            "attachment_size_limit",
            "app_permissions",
            "context",
            "authorizing_integration_owners",
        ] {
            assert!(d.get(key).is_some(), "missing {key}");
        }
        for key in [
            "user",
            "roles",
            "deaf",
            "mute",
            "flags",
            "permissions",
            "joined_at",
        ] {
            assert!(d["member"].get(key).is_some(), "member missing {key}");
        }
        assert_eq!(
            d["data"]["options"][0],
            json!({"name":"n","type":4,"value":2})
        );
    }

    #[test]
    fn dm_interaction_has_user_not_member() {
        let cfg = FakeDiscordConfig::default();
        let d = InteractionBuilder::new(&cfg, 9, "tok")
            .dm()
            .command("help", vec![]);
        assert!(d.get("member").is_none() && d.get("guild_id").is_none());
        assert_eq!(d["user"]["username"], DEFAULT_USERNAME);
        assert_eq!(d["context"], 1);
    }

    #[test]
    fn guild_role_has_colors() {
        let g = guild_create(&FakeDiscordConfig::default());
        assert!(g["roles"][0]["colors"].is_object());
        assert!(g["members"].as_array().is_some_and(Vec::is_empty));
    }
}
