//! Render jobs as the core sees them: their states, the compare layout, a new job, a stored job
//! and the outcomes of the queue's operations. The store maps them to rows (`store/jobs.rs`).

use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Stored before the member's interaction was acknowledged; its prompt is being rewritten
    /// for the persona by the bot process holding the rewrite lease.
    Rewriting,
    /// Waiting for a worker.
    Queued,
    /// Leased by a worker.
    Running,
    /// Rendered; the image is stored.
    Done,
    /// Failed for good.
    Failed,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Rewriting => "rewriting",
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    /// The status a stored name stands for.
    pub fn parse(text: &str) -> Option<JobStatus> {
        Some(match text {
            "rewriting" => JobStatus::Rewriting,
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            _ => return None,
        })
    }
}

/// Whether the member's persona conditions the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PersonaMode {
    /// Rewrite the prompt for the persona (the default).
    #[default]
    On,
    /// Render the prompt as typed.
    Off,
    /// Render both, side by side, and let the member pick.
    Compare,
    /// Not chosen: the member's default (`/settings`), else on. Only an accepted job carries
    /// it: the rewrite stage resolves it after the acknowledgement and stores the outcome.
    Default,
}

impl PersonaMode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonaMode::On => "on",
            PersonaMode::Off => "off",
            PersonaMode::Compare => "compare",
            PersonaMode::Default => "default",
        }
    }

    /// The mode a stored name stands for.
    pub fn parse(text: &str) -> Option<PersonaMode> {
        Some(match text {
            "on" => PersonaMode::On,
            "off" => PersonaMode::Off,
            "compare" => PersonaMode::Compare,
            "default" => PersonaMode::Default,
            _ => return None,
        })
    }
}

/// An image's aspect ratio (`/imagine aspect`): the worker picks the size of that shape with
/// about the model's native pixel count (`zipp_diffusion::aspect_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    /// 1:1.
    Square,
    /// 4:3.
    Landscape4x3,
    /// 3:4.
    Portrait3x4,
    /// 3:2.
    Landscape3x2,
    /// 2:3.
    Portrait2x3,
    /// 16:9.
    Wide16x9,
    /// 9:16.
    Tall9x16,
}

impl Aspect {
    /// Every aspect, in the order members are offered them.
    pub const ALL: [Aspect; 7] = [
        Aspect::Square,
        Aspect::Landscape4x3,
        Aspect::Portrait3x4,
        Aspect::Landscape3x2,
        Aspect::Portrait2x3,
        Aspect::Wide16x9,
        Aspect::Tall9x16,
    ];

    /// Width : height.
    pub fn ratio(self) -> (u32, u32) {
        match self {
            Aspect::Square => (1, 1),
            Aspect::Landscape4x3 => (4, 3),
            Aspect::Portrait3x4 => (3, 4),
            Aspect::Landscape3x2 => (3, 2),
            Aspect::Portrait2x3 => (2, 3),
            Aspect::Wide16x9 => (16, 9),
            Aspect::Tall9x16 => (9, 16),
        }
    }

    /// The stored name, e.g. `16:9`.
    pub fn as_str(self) -> &'static str {
        match self {
            Aspect::Square => "1:1",
            Aspect::Landscape4x3 => "4:3",
            Aspect::Portrait3x4 => "3:4",
            Aspect::Landscape3x2 => "3:2",
            Aspect::Portrait2x3 => "2:3",
            Aspect::Wide16x9 => "16:9",
            Aspect::Tall9x16 => "9:16",
        }
    }

    /// The aspect a stored name stands for.
    pub fn parse(text: &str) -> Option<Aspect> {
        Aspect::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// How a job starts from its parent's image (the Vary and Upscale buttons): img2img from that
/// PNG, at a strength (the share of the schedule that runs again) and a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    /// A close variation: the composition stays, details change.
    VarySubtle,
    /// A freer variation: colours and forms may move.
    VaryStrong,
    /// Twice the size, redrawn lightly at the higher resolution ("hires fix").
    Upscale,
}

impl Derive {
    /// Every derivation, in the order the buttons show them.
    pub const ALL: [Derive; 3] = [Derive::VarySubtle, Derive::VaryStrong, Derive::Upscale];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Derive::VarySubtle => "vary-subtle",
            Derive::VaryStrong => "vary-strong",
            Derive::Upscale => "upscale",
        }
    }

    /// The derivation a stored name stands for.
    pub fn parse(text: &str) -> Option<Derive> {
        Derive::ALL.into_iter().find(|d| d.as_str() == text)
    }

    /// How much of the image is redrawn, in (0, 1]: img2img's strength.
    pub fn strength(self) -> f64 {
        match self {
            Derive::VarySubtle => 0.35,
            Derive::VaryStrong => 0.7,
            Derive::Upscale => 0.35,
        }
    }

    /// The size to render, from the parent image's: the same, or twice it for an upscale.
    pub fn size(self, parent: (u32, u32)) -> (u32, u32) {
        match self {
            Derive::VarySubtle | Derive::VaryStrong => parent,
            Derive::Upscale => (parent.0 * 2, parent.1 * 2),
        }
    }

    /// Whether the image gets a new seed (a variation) or keeps its parent's (an upscale).
    pub fn new_seed(self) -> bool {
        !matches!(self, Derive::Upscale)
    }
}

/// A side of a compare image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The left half.
    Left,
    /// The right half.
    Right,
}

impl Side {
    /// `left` or `right`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    /// Parses [`Side::as_str`].
    pub fn parse(text: &str) -> Option<Side> {
        match text {
            "left" => Some(Side::Left),
            "right" => Some(Side::Right),
            _ => None,
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Compare mode: the generic prompt is rendered with the same seed beside the persona prompt.
#[derive(Clone, PartialEq, Eq)]
pub struct Compare {
    /// The prompt without persona conditioning.
    pub generic_prompt: String,
    /// Where the persona image goes (chosen at random, so position cannot bias the pick).
    pub persona_side: Side,
}

/// What the bot enqueues for one `/imagine`.
#[derive(Clone)]
pub struct NewJob {
    /// The server (None in DMs).
    pub guild_id: Option<GuildId>,
    /// Where the command was used; late results are posted here.
    pub channel_id: ChannelId,
    /// Who asked.
    pub member_id: MemberId,
    /// The interaction; unique, so a re-delivered event enqueues nothing twice.
    pub interaction_id: InteractionId,
    /// The bot's application id (needed for webhook followups).
    pub application_id: ApplicationId,
    /// The interaction token (valid 15 minutes).
    pub interaction_token: String,
    /// The member's locale, for every later message about this job.
    pub locale: String,
    /// The prompt as typed.
    pub prompt: String,
    /// The prompt actually rendered (after the rewrite step); the prompt as typed until then.
    pub rendered_prompt: String,
    /// Which rewrite produced `rendered_prompt` (e.g. `unchanged`; `pending` until then).
    pub rewrite_kind: String,
    /// Negative prompt.
    pub negative_prompt: String,
    /// Diffusion model (catalog name or local path).
    pub model: String,
    /// Compare mode: the generic prompt rendered beside `rendered_prompt`, and the persona's side.
    pub compare: Option<Compare>,
    /// The persona version the rewrite used.
    pub persona_id: Option<i64>,
    /// Persona conditioning as asked.
    pub persona_mode: PersonaMode,
    /// Seed.
    pub seed: u64,
    /// Width in pixels (0: the model's default).
    pub width: u32,
    /// Height in pixels (0: the model's default).
    pub height: u32,
    /// Denoising steps (0: the model's default).
    pub steps: u32,
    /// Largest attachment the interaction accepts, in bytes.
    pub attachment_size_limit: u64,
    /// Tries before failing for good.
    pub max_attempts: u32,
    /// Whether the channel is age-restricted (Discord's `nsfw`): where a flagged image may be
    /// shown, if the server allows it.
    pub channel_nsfw: bool,
    /// The shape the member asked for (None: the model's default size).
    pub aspect: Option<Aspect>,
    /// The job whose result this one was made from (its Reroll button); None for `/imagine`.
    pub parent_id: Option<JobId>,
    /// How it starts from its parent's image (Vary, Upscale); None for a new image.
    pub derive: Option<Derive>,
    /// Which image of the parent's grid a Vary or Upscale starts from (None: its whole image).
    pub source_cell: Option<u32>,
    /// How many images to render, 1 to [`MAX_IMAGES`] (None: the member's default from
    /// `/settings`, else 1; settled when the job is stored).
    pub image_count: Option<u32>,
    /// The model the member picked (`/imagine model`); None: the server's.
    pub model_choice: Option<String>,
}

/// The most images one job renders (`/imagine count`).
pub const MAX_IMAGES: u32 = 4;

/// The columns and rows of a grid of `count` images: four as 2 × 2, fewer in one row.
pub fn grid_shape(count: u32) -> (u32, u32) {
    match count {
        0 | 1 => (1, 1),
        4 => (2, 2),
        n => (n, 1),
    }
}

/// The seed of image `index` of a job seeded `seed`: the following seeds, wrapping within
/// Discord's seed range (32 bits).
pub fn image_seed(seed: u64, index: u32) -> u64 {
    (seed + u64::from(index)) & u64::from(u32::MAX)
}

/// A job as stored.
#[derive(Clone)]
pub struct RenderJob {
    /// Queue id.
    pub id: JobId,
    /// The server (None in DMs).
    pub guild_id: Option<GuildId>,
    /// Channel of the invocation.
    pub channel_id: ChannelId,
    /// Who asked.
    pub member_id: MemberId,
    /// The interaction.
    pub interaction_id: InteractionId,
    /// The bot's application.
    pub application_id: ApplicationId,
    /// Interaction token.
    pub interaction_token: String,
    /// Member locale.
    pub locale: String,
    /// Prompt as typed.
    pub prompt: String,
    /// Prompt rendered.
    pub rendered_prompt: String,
    /// Which rewrite was used.
    pub rewrite_kind: String,
    /// Negative prompt.
    pub negative_prompt: String,
    /// Model.
    pub model: String,
    /// Compare mode, when asked for.
    pub compare: Option<Compare>,
    /// The persona version the rewrite used.
    pub persona_id: Option<i64>,
    /// Persona conditioning as asked.
    pub persona_mode: PersonaMode,
    /// Seed.
    pub seed: u64,
    /// Width (0: model default).
    pub width: u32,
    /// Height (0: model default).
    pub height: u32,
    /// Steps (0: model default).
    pub steps: u32,
    /// Attachment limit in bytes.
    pub attachment_size_limit: u64,
    /// State.
    pub status: JobStatus,
    /// Leases taken so far.
    pub attempts: u32,
    /// Rewrite leases taken so far.
    pub rewrite_attempts: u32,
    /// Most leases.
    pub max_attempts: u32,
    /// Steps done in the current attempt.
    pub progress_step: u32,
    /// Steps in the current attempt.
    pub progress_total: u32,
    /// The progress step last shown to the member (-1: none yet).
    pub notified_step: i64,
    /// Fluent id of the member-facing error, when failed.
    pub error_message_id: Option<String>,
    /// Internal error detail (logs, operators), never shown to members.
    pub last_error: Option<String>,
    /// Enqueued at (Unix ms).
    pub created_at: i64,
    /// First leased at.
    pub started_at: Option<i64>,
    /// Done or failed at.
    pub finished_at: Option<i64>,
    /// Delivered at.
    pub delivered_at: Option<i64>,
    /// Whether the channel is age-restricted.
    pub channel_nsfw: bool,
    /// The safety check's verdict on the render (None: not checked).
    pub nsfw: Option<bool>,
    /// The shape the member asked for (None: the model's default size).
    pub aspect: Option<Aspect>,
    /// The job whose result this one was made from (its Reroll button); None for `/imagine`.
    pub parent_id: Option<JobId>,
    /// How it starts from its parent's image (Vary, Upscale); None for a new image.
    pub derive: Option<Derive>,
    /// Which image of the parent's grid a Vary or Upscale starts from (None: its whole image).
    pub source_cell: Option<u32>,
    /// How many images it renders (seeds `seed`, `seed + 1`, …), shown as one grid.
    pub image_count: u32,
    /// The model the member picked (None: the server's, settled by the rewrite).
    pub model_choice: Option<String>,
}

/// A job handed to a worker together with its lease.
#[derive(Debug, Clone)]
pub struct LeasedJob {
    /// The job.
    pub job: RenderJob,
    /// The lease owner (this worker).
    pub owner: String,
}

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy)]
pub struct QueuedJob {
    /// Queue id.
    pub id: JobId,
    /// 1-based place in the queue (jobs queued or running ahead of it, plus one).
    pub position: u64,
    /// False when the interaction had been enqueued before (a re-delivered event).
    pub newly_created: bool,
}

/// How much `/imagine` one member and one server may ask for (`[limits]`; a server's moderators
/// may tighten them). Enforced by the store as it accepts a job, so no path can skip them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// A member's jobs not finished yet (being rewritten, queued or rendering), over all servers.
    pub member_active: u32,
    /// Jobs a member started in the last hour, over all servers.
    pub member_hourly: u32,
    /// A server's jobs not finished yet.
    pub server_active: u32,
    /// Jobs started in a server in the last hour.
    pub server_hourly: u32,
}

impl JobLimits {
    /// No limit (benchmarks and tests of other contracts).
    pub const UNLIMITED: JobLimits = JobLimits {
        member_active: u32::MAX,
        member_hourly: u32::MAX,
        server_active: u32::MAX,
        server_hourly: u32::MAX,
    };

    /// Each limit the smaller of the two.
    pub fn min(self, other: JobLimits) -> JobLimits {
        JobLimits {
            member_active: self.member_active.min(other.member_active),
            member_hourly: self.member_hourly.min(other.member_hourly),
            server_active: self.server_active.min(other.server_active),
            server_hourly: self.server_hourly.min(other.server_hourly),
        }
    }
}

/// Which limit refused a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`JobLimits::member_active`].
    MemberActive,
    /// [`JobLimits::member_hourly`].
    MemberHourly,
    /// [`JobLimits::server_active`].
    ServerActive,
    /// [`JobLimits::server_hourly`].
    ServerHourly,
}

impl LimitKind {
    /// Every kind, in the order they are checked.
    pub const ALL: [LimitKind; 4] = [
        LimitKind::MemberActive,
        LimitKind::MemberHourly,
        LimitKind::ServerActive,
        LimitKind::ServerHourly,
    ];

    /// Stable name (settings, refusal counts, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::MemberActive => "member_active",
            LimitKind::MemberHourly => "member_hourly",
            LimitKind::ServerActive => "server_active",
            LimitKind::ServerHourly => "server_hourly",
        }
    }

    /// This kind's value in `limits`.
    pub fn of(self, limits: JobLimits) -> u32 {
        match self {
            LimitKind::MemberActive => limits.member_active,
            LimitKind::MemberHourly => limits.member_hourly,
            LimitKind::ServerActive => limits.server_active,
            LimitKind::ServerHourly => limits.server_hourly,
        }
    }

    /// Whether it counts jobs per hour (else jobs unfinished at once).
    pub fn hourly(self) -> bool {
        matches!(self, LimitKind::MemberHourly | LimitKind::ServerHourly)
    }
}

/// A job the limits refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRefusal {
    /// The limit reached.
    pub kind: LimitKind,
    /// Its value (after the server's tightening).
    pub limit: u32,
    /// When a job would be accepted again (Unix ms): for hourly limits, when the oldest counted
    /// job leaves the hour; None for the others (when a running job finishes).
    pub retry_at_ms: Option<i64>,
}

/// The answer to accepting a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Stored (or stored before, when `newly_created` is false: Discord sent it twice).
    Accepted {
        /// The job.
        id: JobId,
        /// False when this interaction had been accepted before.
        newly_created: bool,
    },
    /// Not stored: a limit is reached.
    Refused(LimitRefusal),
}

/// What happened to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back in the queue, after a backoff.
    WillRetry,
    /// Failed for good; the member will be told.
    Failed,
    /// The lease had been lost: another worker owns the job; nothing was changed.
    LeaseLost,
}

// Debug output reaches logs: the interaction token is a credential, and prompts and personas are
// the member's words. None of them is printed.

impl std::fmt::Debug for Compare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compare")
            .field("persona_side", &self.persona_side)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewJob")
            .field("guild_id", &self.guild_id)
            .field("member_id", &self.member_id)
            .field("interaction_id", &self.interaction_id)
            .field("model", &self.model)
            .field("seed", &self.seed)
            .field("compare", &self.compare.is_some())
            .field("persona_id", &self.persona_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RenderJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderJob")
            .field("id", &self.id)
            .field("guild_id", &self.guild_id)
            .field("member_id", &self.member_id)
            .field("interaction_id", &self.interaction_id)
            .field("status", &self.status)
            .field("model", &self.model)
            .field("rewrite_kind", &self.rewrite_kind)
            .field("attempts", &self.attempts)
            .field("rewrite_attempts", &self.rewrite_attempts)
            .field("progress", &(self.progress_step, self.progress_total))
            .field("error_message_id", &self.error_message_id)
            .field("created_at", &self.created_at)
            .field("delivered_at", &self.delivered_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_tokens_and_member_text() {
        let job = RenderJob {
            id: JobId(1),
            guild_id: Some(GuildId(2)),
            channel_id: ChannelId(3),
            member_id: MemberId(4),
            interaction_id: InteractionId(5),
            application_id: ApplicationId(6),
            interaction_token: "SECRET-TOKEN".to_owned(),
            locale: "en-US".to_owned(),
            prompt: "PRIVATE-PROMPT".to_owned(),
            rendered_prompt: "PRIVATE-REWRITE".to_owned(),
            rewrite_kind: "llm".to_owned(),
            negative_prompt: "PRIVATE-NEGATIVE".to_owned(),
            model: "tiny".to_owned(),
            compare: Some(Compare {
                generic_prompt: "PRIVATE-GENERIC".to_owned(),
                persona_side: Side::Left,
            }),
            persona_id: Some(9),
            persona_mode: PersonaMode::Compare,
            seed: 7,
            width: 0,
            height: 0,
            steps: 0,
            attachment_size_limit: 1,
            status: JobStatus::Queued,
            attempts: 0,
            rewrite_attempts: 0,
            max_attempts: 1,
            progress_step: 0,
            progress_total: 0,
            notified_step: -1,
            error_message_id: None,
            last_error: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            delivered_at: None,
            channel_nsfw: false,
            nsfw: None,
            aspect: None,
            parent_id: None,
            derive: None,
            source_cell: None,
            image_count: 1,
            model_choice: None,
        };
        let new = NewJob {
            guild_id: job.guild_id,
            channel_id: job.channel_id,
            member_id: job.member_id,
            interaction_id: job.interaction_id,
            application_id: job.application_id,
            interaction_token: job.interaction_token.clone(),
            locale: job.locale.clone(),
            prompt: job.prompt.clone(),
            rendered_prompt: job.rendered_prompt.clone(),
            rewrite_kind: job.rewrite_kind.clone(),
            negative_prompt: job.negative_prompt.clone(),
            model: job.model.clone(),
            compare: job.compare.clone(),
            persona_id: job.persona_id,
            persona_mode: job.persona_mode,
            seed: 7,
            width: 0,
            height: 0,
            steps: 0,
            attachment_size_limit: 1,
            max_attempts: 1,
            channel_nsfw: false,
            aspect: None,
            parent_id: None,
            derive: None,
            source_cell: None,
            image_count: None,
            model_choice: None,
        };
        let leased = LeasedJob {
            job: job.clone(),
            owner: "w".to_owned(),
        };
        for shown in [
            format!("{job:?}"),
            format!("{new:?}"),
            format!("{leased:?}"),
            format!("{job:#?}"),
        ] {
            assert!(shown.contains("tiny"), "{shown}");
            for secret in ["SECRET", "PRIVATE"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }
}
