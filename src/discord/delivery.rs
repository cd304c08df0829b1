//! Delivery: tells members how their renders are going and hands over the results.
//!
//! A loop polls the store for jobs with news — progress not yet shown, or finished and not yet
//! delivered — so it works the same whether the worker runs in this process or on another
//! machine, and after a restart. Progress edits are throttled per job (Discord rate-limits
//! edits). A finished job is claimed in the store (a lease) before it is sent and recorded as
//! delivered after, so exactly one bot process delivers it, and a claim left by a bot killed
//! mid-delivery expires and is taken over.
//!
//! Every send is idempotent, so a bot killed after Discord received the result but before it
//! was recorded delivers nothing twice: within the interaction token's lifetime the result
//! *replaces* the deferred response (an edit of `@original`; repeating it changes nothing);
//! later it is a channel message that mentions nobody, sent with a `nonce` and `enforce_nonce`,
//! so Discord returns the first message instead of creating a second. An interaction Discord
//! never saw acknowledged (the bot died before its deferral reached Discord, so the member was
//! told the command failed) is not delivered at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use poise::serenity_prelude as serenity;
use serenity::Builder as _;
use tokio::sync::watch;

use crate::config::Config;
use crate::fluent_args;
use crate::i18n::I18n;
use crate::ids::JobId;
use crate::render::png::{fit_png, text_chunk_len, with_text};
use crate::render::worker::WorkerConfig;
use crate::store::{
    now_ms, Disposition, JobStatus, NsfwPolicy, RefusalReason, RenderJob, RenderedImage, Side,
    Store,
};
use crate::text::for_echo;

/// Sending a finished job is tried this often before it is given up (and logged).
const MAX_DELIVERY_TRIES: u32 = 5;
/// Jobs handled per poll.
const BATCH: i64 = 50;
/// Name of the attached file.
const FILE_NAME: &str = "imagine.png";
/// Name of the live preview attached to progress edits.
const PREVIEW_NAME: &str = "preview.png";
/// The file name of an image shown behind a spoiler (Discord blurs `SPOILER_` attachments).
const SPOILER_FILE_NAME: &str = "SPOILER_imagine.png";
/// Discord's JSON error code for a webhook (here: an interaction token) it does not know.
const UNKNOWN_WEBHOOK: isize = 10015;

struct Delivery {
    store: Store,
    /// This process's name on delivery claims.
    owner: String,
    http: Arc<serenity::Http>,
    i18n: Arc<I18n>,
    config: Arc<Config>,
    /// When each running job's reply was last edited, and the step of the preview it shows.
    last_progress_edit: DashMap<JobId, (Instant, u32)>,
    failed_tries: DashMap<JobId, u32>,
}

/// Runs until `shutdown` becomes true.
pub(super) async fn run(
    store: Store,
    http: Arc<serenity::Http>,
    i18n: Arc<I18n>,
    config: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(config.discord.delivery_poll_ms);
    let delivery = Delivery {
        store,
        owner: format!("delivery-{}", WorkerConfig::unique_owner(0)),
        http,
        i18n,
        config,
        last_progress_edit: DashMap::new(),
        failed_tries: DashMap::new(),
    };
    let mut polls: u64 = 0;
    while !*shutdown.borrow() {
        polls += 1;
        if polls.is_multiple_of(1000) {
            delivery.trim();
        }
        match delivery.store.jobs_to_notify(BATCH).await {
            Ok(jobs) => {
                for job in jobs {
                    delivery.handle(job).await;
                }
            }
            Err(error) => tracing::error!(%error, "delivery: reading the queue failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

impl Delivery {
    fn token_usable(&self, job: &RenderJob) -> bool {
        let lifetime_ms = self.config.discord.interaction_token_lifetime_secs as i64 * 1000;
        now_ms() < job.created_at + lifetime_ms
    }

    async fn handle(&self, job: RenderJob) {
        match job.status {
            JobStatus::Running => self.show_progress(&job).await,
            JobStatus::Done => self.deliver_image(&job).await,
            JobStatus::Failed => self.deliver_failure(&job).await,
            JobStatus::Rewriting | JobStatus::Queued => self.show_queued(&job).await,
        }
    }

    /// The job's place in the queue, edited into the deferred response once (the handler only
    /// defers, so nothing but the durable write stands before the acknowledgement).
    async fn show_queued(&self, job: &RenderJob) {
        if self.token_usable(job) {
            match self.store.queue_position(job.id).await {
                Ok(position) if position > 0 => {
                    let text = self.i18n.tr(
                        &job.locale,
                        "imagine-queued",
                        Some(&fluent_args!["position" => position]),
                    );
                    let edit = serenity::EditInteractionResponse::new()
                        .content(text)
                        .allowed_mentions(serenity::CreateAllowedMentions::new());
                    if let Err(error) = edit.execute(&self.http, &job.interaction_token).await {
                        tracing::warn!(job = %job.id, %error, "queue position edit failed");
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(job = %job.id, %error, "reading the queue position failed")
                }
            }
        }
        if let Err(error) = self.store.mark_notified(job.id, 0).await {
            tracing::warn!(job = %job.id, %error, "recording the queue notification failed");
        }
    }

    async fn show_progress(&self, job: &RenderJob) {
        let interval = Duration::from_millis(self.config.discord.progress_edit_interval_ms);
        let mut shown_preview = 0;
        if let Some(last) = self.last_progress_edit.get(&job.id) {
            if last.0.elapsed() < interval {
                return;
            }
            shown_preview = last.1;
        }
        if self.token_usable(job) {
            let text = if job.progress_total == 0 {
                self.i18n.tr(&job.locale, "imagine-rendering-started", None)
            } else {
                self.i18n.tr(
                    &job.locale,
                    "imagine-rendering",
                    Some(&fluent_args!["step" => job.progress_step, "total" => job.progress_total]),
                )
            };
            let mut edit = serenity::EditInteractionResponse::new()
                .content(text)
                .allowed_mentions(serenity::CreateAllowedMentions::new());
            // Another live preview replaces the one shown (the result replaces it in turn). A
            // retried render's previews start again from its first steps: "another", not "later".
            match self.store.preview(job.id, shown_preview).await {
                Ok(Some((png, step))) => {
                    edit =
                        edit.new_attachment(serenity::CreateAttachment::bytes(png, PREVIEW_NAME));
                    shown_preview = step;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(job = %job.id, %error, "reading the preview failed"),
            }
            if let Err(error) = edit.execute(&self.http, &job.interaction_token).await {
                tracing::warn!(job = %job.id, %error, "progress edit failed");
            }
        }
        self.last_progress_edit
            .insert(job.id, (Instant::now(), shown_preview));
        if let Err(error) = self.store.mark_notified(job.id, job.progress_step).await {
            tracing::warn!(job = %job.id, %error, "recording progress notification failed");
        }
    }

    fn embed(&self, job: &RenderJob, render_ms: Option<i64>) -> serenity::CreateEmbed {
        let t = |id: &str| self.i18n.tr(&job.locale, id, None);
        let mut embed = serenity::CreateEmbed::new().field(
            t("imagine-field-prompt"),
            clip(&job.prompt, 1024),
            false,
        );
        embed = match &job.compare {
            None => embed.field(
                t("imagine-field-rendered"),
                clip(&job.rendered_prompt, 1024),
                false,
            ),
            Some(compare) => {
                let (left, right) = match compare.persona_side {
                    Side::Left => (&job.rendered_prompt, &compare.generic_prompt),
                    Side::Right => (&compare.generic_prompt, &job.rendered_prompt),
                };
                embed
                    .field(t("imagine-field-left"), clip(left, 1024), false)
                    .field(t("imagine-field-right"), clip(right, 1024), false)
            }
        };
        embed = embed
            .field(t("imagine-field-model"), clip(&job.model, 256), true)
            .field(t("imagine-field-seed"), seeds(job), true)
            .field(
                t("imagine-field-rewrite"),
                clip(&crate::rewrite::public_kind(&job.rewrite_kind), 256),
                true,
            );
        if let Some(ms) = render_ms {
            embed = embed.field(
                t("imagine-field-time"),
                format!("{:.1} s", ms as f64 / 1000.0),
                true,
            );
        }
        embed
    }

    /// How a finished job reaches the member: the interaction while its token lives, else the
    /// channel.
    fn route(&self, job: &RenderJob) -> &'static str {
        if self.token_usable(job) {
            "interaction"
        } else {
            "channel"
        }
    }

    async fn claim(&self, job: &RenderJob) -> bool {
        match self
            .store
            .claim_delivery(
                job.id,
                &self.owner,
                self.config.discord.delivery_lease_secs as i64 * 1000,
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "claiming delivery failed");
                false
            }
        }
    }

    async fn delivered(&self, job: &RenderJob, via: &str) {
        match self.store.mark_delivered(job.id, &self.owner, via).await {
            Ok(true) => tracing::info!(job = %job.id, via, "result delivered"),
            Ok(false) => {
                tracing::warn!(job = %job.id, via, "delivery claim expired while sending; the send was idempotent")
            }
            // The claim expires and the idempotent send is repeated: the member sees one result.
            Err(error) => tracing::error!(job = %job.id, %error, "recording the delivery failed"),
        }
        self.forget(job.id);
    }

    async fn deliver_image(&self, job: &RenderJob) {
        if !self.claim(job).await {
            return;
        }
        let via = self.route(job);
        // The safety check's verdict against the channel and the server's policy, read now
        // (and whether its PNGs carry their parameters).
        let (policy, metadata) = match job.guild_id {
            Some(guild) => match self.store.guild_settings(guild).await {
                Ok(settings) => (settings.nsfw_policy(), settings.metadata_on()),
                Err(error) => {
                    tracing::warn!(job = %job.id, %error, "reading the server's NSFW policy failed; blocking");
                    (NsfwPolicy::Block, false)
                }
            },
            None => (NsfwPolicy::Block, true),
        };
        let sent = match policy.disposition(job.nsfw, job.channel_nsfw) {
            Disposition::Show => self.send_image(job, via, false, metadata).await,
            Disposition::Spoiler => self.send_image(job, via, true, metadata).await,
            Disposition::Withhold => self.withhold(job, via).await,
        };
        match sent {
            Ok(()) => self.delivered(job, via).await,
            Err(error) => self.delivery_failed(job, error).await,
        }
    }

    /// A render the safety check flagged, where it may not be shown: the public deferred reply
    /// is deleted and its owner told privately (after the token's lifetime, a short note in
    /// the channel, without the prompt). Counted for `/stats`.
    async fn withhold(&self, job: &RenderJob, via: &str) -> anyhow::Result<()> {
        tracing::info!(job = %job.id, channel_nsfw = job.channel_nsfw, "render flagged by the safety check; not posted");
        let note = self.i18n.tr(&job.locale, "imagine-withheld", None);
        if via == "interaction" {
            // Deleting twice (a repeated delivery) answers 404: already gone.
            if let Err(error) = self
                .http
                .delete_original_interaction_response(&job.interaction_token)
                .await
            {
                if !is_not_found(&error) {
                    return Err(error.into());
                }
            }
            serenity::CreateInteractionResponseFollowup::new()
                .content(note)
                .ephemeral(true)
                .allowed_mentions(serenity::CreateAllowedMentions::new())
                .execute(&self.http, (None, &job.interaction_token))
                .await?;
        } else {
            serenity::ChannelId::new(job.channel_id.0)
                .send_message(
                    &self.http,
                    serenity::CreateMessage::new()
                        .content(note)
                        .allowed_mentions(serenity::CreateAllowedMentions::new())
                        .nonce(nonce(job.id))
                        .enforce_nonce(true),
                )
                .await?;
        }
        crate::observe::refused("safety");
        if let Some(guild) = job.guild_id {
            if let Err(error) = self.store.count_refusal(guild, RefusalReason::Safety).await {
                tracing::warn!(job = %job.id, %error, "counting a refusal failed");
            }
        }
        Ok(())
    }

    async fn send_image(
        &self,
        job: &RenderJob,
        via: &str,
        spoiler: bool,
        metadata: bool,
    ) -> anyhow::Result<()> {
        let image = self
            .store
            .rendered_image(job.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job {} is done but has no image", job.id))?;
        let parameters = metadata.then(|| parameters(job, &image));
        let limit = job.attachment_size_limit;
        let png = image.png;
        // Decoding and re-encoding are CPU work: off the async runtime.
        let fitted = tokio::task::spawn_blocking(move || {
            let Some(text) = parameters else {
                return fit_png(&png, limit);
            };
            // Room for the text chunk, which goes in after the fitting.
            let room = limit.saturating_sub(text_chunk_len(PARAMETERS, &text) as u64);
            Ok(fit_png(&png, room)?.map(|mut fitted| {
                if let Some(with) = with_text(&fitted.bytes, PARAMETERS, &text) {
                    fitted.bytes = with;
                }
                fitted
            }))
        })
        .await??;
        let mut content = if job.compare.is_some() {
            self.i18n.tr(&job.locale, "imagine-compare-result", None)
        } else if job.image_count > 1 {
            self.i18n.tr(
                &job.locale,
                "imagine-result-grid",
                Some(&fluent_args!["count" => job.image_count]),
            )
        } else {
            self.i18n.tr(&job.locale, "imagine-result", None)
        };
        let mut embed = self.embed(job, Some(image.render_ms));
        // Which persona version the rewrite used, and a button that opens it for its owner.
        let persona = match job.persona_id {
            Some(id) => self.store.persona(id).await.unwrap_or_else(|error| {
                tracing::warn!(job = %job.id, %error, "reading the job's persona failed");
                None
            }),
            None => None,
        };
        if let Some(p) = &persona {
            embed = embed.field(
                self.i18n.tr(&job.locale, "imagine-field-persona", None),
                super::persona::version_label(&self.i18n, &job.locale, p),
                false,
            );
        }
        let attachment = match fitted {
            Some(fitted) => {
                if fitted.downscaled {
                    content.push('\n');
                    content.push_str(&self.i18n.tr(
                        &job.locale,
                        "imagine-downscaled",
                        Some(&fluent_args!["width" => fitted.width, "height" => fitted.height]),
                    ));
                }
                if spoiler {
                    // Not in the embed, which would show it unblurred.
                    Some(serenity::CreateAttachment::bytes(
                        fitted.bytes,
                        SPOILER_FILE_NAME,
                    ))
                } else {
                    embed = embed.image(format!("attachment://{FILE_NAME}"));
                    Some(serenity::CreateAttachment::bytes(fitted.bytes, FILE_NAME))
                }
            }
            None => {
                content.push('\n');
                content.push_str(&self.i18n.tr(&job.locale, "imagine-too-large", None));
                None
            }
        };
        // Pick buttons only when there is a picture to judge.
        let mut components = match (&job.compare, &attachment) {
            (Some(_), Some(_)) => vec![super::compare::buttons(
                &self.i18n,
                &job.locale,
                job.id,
                None,
            )],
            _ => Vec::new(),
        };
        // Info (for its owner), and the persona the render used.
        components.push(super::info::result_row(
            &self.i18n,
            &job.locale,
            job,
            persona.as_ref().map(|p| p.id),
        ));
        // Vary and Upscale start from this one picture: not under a comparison, nor when no
        // image could be attached.
        if job.compare.is_none() && attachment.is_some() {
            if job.image_count > 1 {
                components.extend(super::again::cell_rows(
                    &self.i18n,
                    &job.locale,
                    job.id,
                    job.image_count,
                ));
            } else {
                components.push(super::again::derive_row(&self.i18n, &job.locale, job.id));
            }
        }
        if via == "interaction" {
            // The result replaces the deferred response: an edit, so sending it twice (a bot
            // killed before recording the delivery) still shows one result.
            let done = self.i18n.tr(
                &job.locale,
                "imagine-done",
                Some(&fluent_args!["seconds" => format!("{:.1}", image.render_ms as f64 / 1000.0)]),
            );
            let mut edit = serenity::EditInteractionResponse::new()
                .content(format!("{done}\n{content}"))
                .embed(embed)
                .components(components)
                .allowed_mentions(serenity::CreateAllowedMentions::new());
            edit = match attachment {
                Some(attachment) => edit.new_attachment(attachment),
                None => edit.clear_attachments(),
            };
            let sent = edit.execute(&self.http, &job.interaction_token).await?;
            self.remember_message(job, sent.id.get()).await;
        } else {
            let late = self.i18n.tr(&job.locale, "imagine-late-delivery", None);
            let mut message = serenity::CreateMessage::new()
                .content(format!("{late}\n{content}"))
                .embed(embed)
                .components(components)
                .allowed_mentions(serenity::CreateAllowedMentions::new())
                .nonce(nonce(job.id))
                .enforce_nonce(true);
            if let Some(attachment) = attachment {
                message = message.add_file(attachment);
            }
            let sent = serenity::ChannelId::new(job.channel_id.0)
                .send_message(&self.http, message)
                .await?;
            self.remember_message(job, sent.id.get()).await;
        }
        Ok(())
    }

    /// Keeps which message carries the image, so the owner's reactions become feedback.
    async fn remember_message(&self, job: &RenderJob, message_id: u64) {
        if let Err(error) = self.store.set_job_message(job.id, message_id).await {
            tracing::warn!(job = %job.id, %error, "recording the delivered message failed");
        }
    }

    async fn deliver_failure(&self, job: &RenderJob) {
        if !self.claim(job).await {
            return;
        }
        let via = self.route(job);
        tracing::warn!(job = %job.id, error = ?job.last_error, "render failed for good; telling the member");
        let id = job
            .error_message_id
            .as_deref()
            .unwrap_or("render-error-internal");
        let text = self.i18n.tr(&job.locale, id, None);
        let result = if via == "interaction" {
            serenity::EditInteractionResponse::new()
                .content(text)
                .allowed_mentions(serenity::CreateAllowedMentions::new())
                .execute(&self.http, &job.interaction_token)
                .await
                .map(|_| ())
        } else {
            serenity::ChannelId::new(job.channel_id.0)
                .send_message(
                    &self.http,
                    serenity::CreateMessage::new()
                        .content(text)
                        .embed(self.embed(job, None))
                        .allowed_mentions(serenity::CreateAllowedMentions::new())
                        .nonce(nonce(job.id))
                        .enforce_nonce(true),
                )
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => self.delivered(job, via).await,
            Err(error) => self.delivery_failed(job, error.into()).await,
        }
    }

    async fn delivery_failed(&self, job: &RenderJob, error: anyhow::Error) {
        if never_acknowledged(&error) {
            // The bot died after storing the job but before its deferral reached Discord: the
            // member was told the command failed, so no result follows it anywhere.
            tracing::warn!(job = %job.id, "the interaction was never acknowledged; not delivering");
            self.delivered(job, "unacknowledged").await;
            return;
        }
        let tries = {
            let mut entry = self.failed_tries.entry(job.id).or_insert(0);
            *entry += 1;
            *entry
        };
        if tries < MAX_DELIVERY_TRIES {
            tracing::warn!(job = %job.id, tries, error = ?error, "delivery failed; will retry");
            if let Err(store_error) = self.store.release_delivery(job.id, &self.owner).await {
                tracing::error!(job = %job.id, %store_error, "could not release the delivery claim");
            }
        } else {
            tracing::error!(job = %job.id, tries, error = ?error, "delivery failed for good; giving up");
            // Recorded as settled, so no bot retries it for ever.
            self.delivered(job, "abandoned").await;
        }
    }

    /// Drops bookkeeping of jobs that left the queue without a delivery here (erased, delivered
    /// by another bot): nothing older than an hour is still news.
    fn trim(&self) {
        let hour = Duration::from_secs(3600);
        self.last_progress_edit
            .retain(|_, (at, _)| at.elapsed() < hour);
        if self.failed_tries.len() > 10_000 {
            self.failed_tries.clear();
        }
    }

    fn forget(&self, job: JobId) {
        self.last_progress_edit.remove(&job);
        self.failed_tries.remove(&job);
    }
}

/// The nonce of a job's channel message (at most 25 characters, as Discord requires).
fn nonce(job: JobId) -> serenity::Nonce {
    serenity::Nonce::String(format!("zipp-{}", job.0))
}

/// Whether Discord refused an interaction edit because it never saw the interaction answered.
/// Whether Discord answered 404 (what a repeated delete gets).
fn is_not_found(error: &serenity::Error) -> bool {
    matches!(
        error,
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response))
            if response.status_code == serenity::StatusCode::NOT_FOUND
    )
}

fn never_acknowledged(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<serenity::Error>(),
            Some(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response)))
                if response.error.code == UNKNOWN_WEBHOOK
        )
    })
}

/// The steps and size a render ran with: the job's, or for what it left to the model (0), the
/// steps its progress counted and the size of the image (one half of a comparison).
pub(super) fn what_ran(job: &RenderJob, image: Option<&RenderedImage>) -> (u32, u32, u32) {
    let (image_w, image_h) = image.map_or((0, 0), |i| (i.width, i.height));
    let halves = if job.compare.is_some() { 2 } else { 1 };
    let steps = match job.steps {
        0 => job.progress_total / halves / job.image_count.max(1),
        steps => steps,
    };
    let (width, height) = match (job.width, job.height) {
        (0, _) | (_, 0) if halves == 2 => (
            image_w.saturating_sub(crate::render::png::COMPARE_GAP) / 2,
            image_h,
        ),
        (0, _) | (_, 0) => {
            let (cols, rows) = crate::domain::grid_shape(job.image_count);
            (image_w / cols, image_h / rows)
        }
        size => size,
    };
    (steps, width, height)
}

/// The seed of a job's image, or the first and last of a grid's (they follow each other).
pub(super) fn seeds(job: &RenderJob) -> String {
    if job.image_count > 1 {
        format!(
            "{}–{}",
            job.seed,
            crate::domain::image_seed(job.seed, job.image_count - 1)
        )
    } else {
        job.seed.to_string()
    }
}

/// The PNG text chunk other Stable Diffusion tools read generation parameters from.
const PARAMETERS: &str = "parameters";

/// A render's generation parameters in the `parameters` convention (the prompt, an optional
/// `Negative prompt:` line, then `Key: value` pairs): the prompt as the member typed it — never
/// the persona, nor the rewrite it produced.
///
/// A job that left steps and size to the model's defaults (0) reports what ran: the steps its
/// progress counted, the size of the image (one half of a comparison).
fn parameters(job: &RenderJob, image: &RenderedImage) -> String {
    let (steps, width, height) = what_ran(job, Some(image));
    let mut text = job.prompt.clone();
    if !job.negative_prompt.is_empty() {
        text.push_str("\nNegative prompt: ");
        text.push_str(&job.negative_prompt);
    }
    text.push('\n');
    if steps > 0 {
        text.push_str(&format!("Steps: {steps}, "));
    }
    text.push_str(&format!(
        "Seed: {}, Size: {width}x{height}, Model: {}",
        job.seed, job.model
    ));
    // A grid: the images' seeds follow the first (as other tools write a batch).
    if job.image_count > 1 {
        text.push_str(&format!(", Batch size: {}", job.image_count));
    }
    text
}

/// Makes echoed text inert ([`for_echo`]: no mention, invite or link) and cuts it to at most
/// `max` characters (Discord's embed field limits), marking the cut.
fn clip(text: &str, max: usize) -> String {
    let text = for_echo(text);
    if text.chars().count() <= max {
        text
    } else {
        let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
