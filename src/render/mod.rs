//! Rendering: the job queue's consumers. A [`worker`] loop leases jobs from the store, runs a
//! [`Renderer`] off the async runtime, reports progress, and stores the PNG.
//!
//! The production renderer is [`engine::DiffusionRenderer`] (candle's Stable Diffusion pipeline,
//! [`diffusion`]); tests and the queue benchmark plug in simpler renderers through the same trait.
//!
//! **Invariant:** rendering and image encoding never run on the async runtime; they run on a
//! blocking thread and talk back through channels.

mod batch;
pub mod engine;
pub mod png;
pub mod worker;

use crate::ids::JobId;

/// Everything a renderer needs for one job.
#[derive(Debug, Clone)]
pub struct RenderSpec {
    /// The job (for logs).
    pub job_id: JobId,
    /// Diffusion model: a catalog name or a local directory.
    pub model: String,
    /// The prompt to render (already rewritten).
    pub prompt: String,
    /// Negative prompt.
    pub negative_prompt: String,
    /// Seed.
    pub seed: u64,
    /// Width (0: the model's default).
    pub width: u32,
    /// Height (0: the model's default).
    pub height: u32,
    /// Steps (0: the model's default).
    pub steps: u32,
    /// Width : height, for a size left to the model (0 × 0): that shape with about the
    /// model's default pixel count.
    pub aspect: Option<(u32, u32)>,
    /// The image to start from (Vary, Upscale: img2img); None renders from noise.
    pub init: Option<InitImage>,
}

/// An image a render starts from, and how much of it is redrawn.
#[derive(Clone)]
pub struct InitImage {
    /// The image (resized to the render's size if it differs).
    pub image: std::sync::Arc<image::RgbImage>,
    /// The share of the denoising schedule that runs, in (0, 1].
    pub strength: f64,
}

impl std::fmt::Debug for InitImage {
    // The pixels are not for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitImage")
            .field("width", &self.image.width())
            .field("height", &self.image.height())
            .field("strength", &self.strength)
            .finish()
    }
}

/// Why a render failed: what the member is told (a Fluent message id), what the logs get, and
/// whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct RenderError {
    /// Fluent id of the member-facing message.
    pub message_id: &'static str,
    /// Internal detail for logs.
    pub detail: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

impl RenderError {
    /// A failure that another attempt may fix (out of memory, a transient I/O error).
    pub fn transient(detail: impl Into<String>) -> Self {
        Self {
            message_id: "render-error-internal",
            detail: detail.into(),
            retryable: true,
        }
    }

    /// A failure that will repeat (unknown model, impossible size).
    pub fn permanent(message_id: &'static str, detail: impl Into<String>) -> Self {
        Self {
            message_id,
            detail: detail.into(),
            retryable: false,
        }
    }
}

/// Progress callback: `(steps done, total)`. Returns false when the render should stop (the
/// lease was lost), and the renderer then returns early.
pub type Progress<'a> = &'a mut dyn FnMut(u32, u32) -> bool;

/// Live-preview callback: `(step, image)`.
pub type Preview<'a> = &'a mut dyn FnMut(u32, image::RgbImage);

/// Renders images. Called on a blocking thread; may take minutes.
pub trait Renderer: Send + Sync + 'static {
    /// Renders one image.
    fn render(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
    ) -> Result<image::RgbImage, RenderError>;

    /// Renders one image, handing `preview(step, image)` a small live preview every `every`
    /// steps (0: none). Renderers without previews render as [`Renderer::render`].
    fn render_previewed(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
        every: u32,
        preview: Preview<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        let _ = (every, preview);
        self.render(spec, progress)
    }

    /// How many images of one job this renderer renders in one batch (1: one after the other).
    fn max_batch(&self) -> usize {
        1
    }

    /// Renders the images of `specs` (one model and size, text-to-image), in batches of up to
    /// [`Renderer::max_batch`]; `progress` counts the denoising steps of all batches. The
    /// default renders them one by one.
    fn render_batch(
        &self,
        specs: &[RenderSpec],
        progress: Progress<'_>,
    ) -> Result<Vec<image::RgbImage>, RenderError> {
        let n = u32::try_from(specs.len()).unwrap_or(u32::MAX);
        let mut images = Vec::with_capacity(specs.len());
        for (index, spec) in (0u32..).zip(specs) {
            images.push(self.render(spec, &mut |done, total| {
                progress(index * total + done, n * total)
            })?);
        }
        Ok(images)
    }

    /// The most one render of `model` may take, when the model sets its own (else the worker's
    /// default).
    fn deadline(&self, _model: &str) -> Option<std::time::Duration> {
        None
    }

    /// Whether `model` can be rendered with now (a worker's readiness): `Err` says why not.
    /// Blocking (file checks); call it off the async runtime.
    fn ready(&self, _model: &str) -> Result<(), String> {
        Ok(())
    }
}
