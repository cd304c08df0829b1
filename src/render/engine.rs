//! The production [`Renderer`]: catalog lookup → local weights (downloaded once when needed) →
//! a loaded [`Pipeline`] (Stable Diffusion or FLUX.1) kept in memory → one image.

use std::sync::{Arc, Mutex};

use super::{Preview, Progress, RenderError, RenderSpec, Renderer};
use crate::models::{self, Catalog, ModelError};
use zipp_diffusion::{DiffusionError, GenerateParams, Pipeline};

/// Loaded models stay in memory; more than this many are evicted (the least recently used
/// first, never a pinned one) because each SD-class model takes several GiB.
const MAX_LOADED_MODELS: usize = 2;

/// Renders with our candle pipelines (Stable Diffusion 1.x/2.x/XL, FLUX.1).
pub struct DiffusionRenderer {
    catalog: Catalog,
    device: candle_core::Device,
    loaded: Mutex<Vec<(String, Arc<Pipeline>)>>,
    /// Jobs whose estimated peak memory exceeds this are refused (None: no check).
    max_memory: Option<u64>,
    /// Why the last load of each model failed (cleared when one succeeds): readiness.
    load_failures: Mutex<std::collections::HashMap<String, String>>,
    /// The most images of one job rendered in one batch.
    max_batch: usize,
    /// Models kept loaded once loaded (`render.models`: the jobs routed to this worker).
    pinned: Vec<String>,
}

impl std::fmt::Debug for DiffusionRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionRenderer")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl DiffusionRenderer {
    /// A renderer over `catalog` on `device`, refusing jobs estimated to need more than
    /// `max_memory` bytes.
    pub fn new(catalog: Catalog, device: candle_core::Device, max_memory: Option<u64>) -> Self {
        Self {
            catalog,
            device,
            loaded: Mutex::new(Vec::new()),
            max_memory,
            load_failures: Mutex::default(),
            max_batch: 1,
            pinned: Vec::new(),
        }
    }

    /// Keeps `models` loaded once loaded, however many (a worker's `render.models`, the jobs
    /// routed to it: three servers with three models never reload per job).
    #[must_use]
    pub fn with_pinned(mut self, models: Vec<String>) -> Self {
        self.pinned = models;
        self
    }

    /// Names of the models loaded now, least recently used first.
    pub fn loaded_models(&self) -> Vec<String> {
        self.loaded
            .lock()
            .map(|l| l.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Renders up to `max_batch` images of one job in one batch (`render.max_batch`).
    #[must_use]
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    fn model(&self, name: &str) -> Result<(Arc<Pipeline>, models::DiffusionEntry), RenderError> {
        let loaded = self.load(name);
        let mut failures = self
            .load_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &loaded {
            Ok(_) => failures.remove(name),
            Err(error) => failures.insert(name.to_owned(), error.detail.clone()),
        };
        loaded
    }

    fn load(&self, name: &str) -> Result<(Arc<Pipeline>, models::DiffusionEntry), RenderError> {
        let entry = self.catalog.diffusion(name).map_err(model_error)?;
        // The lock is held while loading so two jobs never load the same model twice; this runs
        // on a blocking thread, never on the async runtime.
        let mut loaded = self
            .loaded
            .lock()
            .map_err(|_| RenderError::transient("model cache lock poisoned"))?;
        if let Some(at) = loaded.iter().position(|(n, _)| n == name) {
            // Most recently used last.
            let hit = loaded.remove(at);
            let model = Arc::clone(&hit.1);
            loaded.push(hit);
            return Ok((model, entry));
        }
        let dir = models::ensure_local(&entry, !self.device.is_cpu()).map_err(model_error)?;
        let vae = models::ensure_vae_local(&entry).map_err(model_error)?;
        let transformer = models::ensure_transformer_local(&entry).map_err(model_error)?;
        let started = std::time::Instant::now();
        let options = zipp_diffusion::LoadOptions {
            vae,
            transformer,
            ..Default::default()
        };
        let model = Pipeline::load_with(&dir, &self.device, &options).map_err(|e| {
            RenderError::permanent(
                "render-error-model-unavailable",
                format!("loading {name} from {}: {e}", dir.display()),
            )
        })?;
        tracing::info!(model = name, dir = %dir.display(), elapsed_ms = started.elapsed().as_millis() as u64, "diffusion model loaded");
        let model = Arc::new(model);
        // Room for every pinned model; beyond that the least recently used unpinned one goes.
        let capacity = MAX_LOADED_MODELS.max(self.pinned.len());
        while loaded.len() >= capacity {
            match loaded.iter().position(|(n, _)| !self.pinned.contains(n)) {
                Some(at) => drop(loaded.remove(at)),
                None => break,
            }
        }
        loaded.push((name.to_owned(), Arc::clone(&model)));
        Ok((model, entry))
    }
}

fn model_error(error: ModelError) -> RenderError {
    match error {
        ModelError::Download { .. } => RenderError::transient(error.to_string()),
        other => RenderError::permanent("render-error-model-unavailable", other.to_string()),
    }
}

impl Renderer for DiffusionRenderer {
    fn render(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        self.render_previewed(spec, progress, 0, &mut |_, _| {})
    }

    fn render_previewed(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
        every: u32,
        preview: Preview<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        let (model, entry) = self.model(&spec.model)?;
        let params = params_for(spec, &model, &entry);
        self.check_memory(&model, spec, &params, 1)?;
        // The callback returns false once the lease is lost: the render stops after the current
        // step instead of finishing an image nobody will store.
        model
            .generate_previewed(&params, progress, every, preview)
            .map_err(|e| render_error(e, &spec.model))
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// In batches of up to `max_batch`, fewer when a batch would not fit in
    /// `render.max_memory_gib` (one image that does not fit is refused, as alone).
    fn render_batch(
        &self,
        specs: &[RenderSpec],
        progress: Progress<'_>,
    ) -> Result<Vec<image::RgbImage>, RenderError> {
        let Some(first) = specs.first() else {
            return Ok(Vec::new());
        };
        let (model, entry) = self.model(&first.model)?;
        let params: Vec<GenerateParams> = specs
            .iter()
            .map(|s| params_for(s, &model, &entry))
            .collect();
        let mut batch = self.max_batch.min(params.len()).max(1);
        while batch > 1 && self.check_memory(&model, first, &params[0], batch).is_err() {
            batch -= 1;
        }
        self.check_memory(&model, first, &params[0], batch)?;
        let chunks = u32::try_from(params.len().div_ceil(batch)).unwrap_or(u32::MAX);
        let mut images = Vec::with_capacity(params.len());
        for (index, chunk) in (0u32..).zip(params.chunks(batch)) {
            let rendered = model
                .generate_batch(chunk, &mut |done, total| {
                    progress(index * total + done, chunks * total)
                })
                .map_err(|e| render_error(e, &first.model))?;
            images.extend(rendered);
        }
        Ok(images)
    }

    fn deadline(&self, model: &str) -> Option<std::time::Duration> {
        self.model_deadline(model)
    }

    /// Ready when the catalog has `model`, a local folder of it holds its files (a hub model
    /// is downloaded on first use), and its last load did not fail.
    fn ready(&self, model: &str) -> Result<(), String> {
        let entry = self.catalog.diffusion(model).map_err(|e| e.to_string())?;
        if let (Some(dir), None) = (&entry.path, &entry.repo) {
            models::check_model_dir(dir, entry.transformer.is_some()).map_err(|e| e.to_string())?;
        }
        let failures = self
            .load_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(model) {
            Some(why) => Err(format!("the last load of {model} failed: {why}")),
            None => Ok(()),
        }
    }
}

impl DiffusionRenderer {
    /// Refuses a render of `images` at once whose estimated peak memory is over the limit.
    fn check_memory(
        &self,
        model: &Pipeline,
        spec: &RenderSpec,
        params: &GenerateParams,
        images: usize,
    ) -> Result<(), RenderError> {
        let Some(limit) = self.max_memory else {
            return Ok(());
        };
        let need =
            model.estimate_peak_bytes(params.width, params.height, params.guidance_scale, images);
        if need > limit {
            return Err(RenderError::permanent(
                "render-error-too-large",
                format!(
                    "{} at {}x{} ({images} at once) needs about {:.1} GiB, more than \
                     render.max_memory_gib ({:.1} GiB)",
                    spec.model,
                    params.width,
                    params.height,
                    need as f64 / GIB,
                    limit as f64 / GIB
                ),
            ));
        }
        Ok(())
    }

    /// The catalog's deadline for `model`, if it sets one.
    fn model_deadline(&self, model: &str) -> Option<std::time::Duration> {
        let entry = self.catalog.diffusion(model).ok()?;
        entry.deadline_secs.map(std::time::Duration::from_secs)
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What the pipeline renders for `spec`: the catalog's defaults (steps, size, guidance) where
/// the job leaves them open, an aspect ratio reshaping the default size.
fn params_for(
    spec: &RenderSpec,
    model: &Pipeline,
    entry: &models::DiffusionEntry,
) -> GenerateParams {
    let (native_w, native_h) = model.default_size();
    let default = (
        entry.width.unwrap_or(native_w),
        entry.height.unwrap_or(native_h),
    );
    let default = match spec.aspect {
        Some(ratio) => zipp_diffusion::aspect_size(default, ratio, model.latent_factor()),
        None => default,
    };
    GenerateParams {
        prompt: spec.prompt.clone(),
        negative_prompt: spec.negative_prompt.clone(),
        seed: spec.seed,
        width: nonzero_or(spec.width, default.0),
        height: nonzero_or(spec.height, default.1),
        steps: nonzero_or(spec.steps, entry.steps),
        guidance_scale: entry.guidance_scale,
        init_image: spec.init.as_ref().map(|init| zipp_diffusion::InitImage {
            image: (*init.image).clone(),
            strength: init.strength,
        }),
    }
}

/// A pipeline error as the member's message and the log's detail.
fn render_error(error: DiffusionError, model: &str) -> RenderError {
    match error {
        DiffusionError::InvalidParams(reason) => {
            RenderError::permanent("render-error-invalid-size", reason)
        }
        DiffusionError::Cancelled { done, total } => RenderError::transient(format!(
            "render stopped at step {done}/{total}: the lease was lost"
        )),
        other => RenderError::transient(format!("rendering with {model}: {other}")),
    }
}

fn nonzero_or(value: u32, default: u32) -> u32 {
    if value == 0 {
        default
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(model: &str) -> RenderSpec {
        RenderSpec {
            job_id: crate::ids::JobId(1),
            model: model.to_owned(),
            prompt: "a cat".to_owned(),
            negative_prompt: String::new(),
            seed: 1,
            width: 64,
            height: 64,
            steps: 1,
            aspect: None,
            init: None,
        }
    }

    /// Three entries of the tiny model under three names, in a catalog.
    fn catalog(dir: &std::path::Path) -> Catalog {
        let model = dir.join("tiny");
        zipp_diffusion::tiny::write_tiny_sd(
            &model,
            std::path::Path::new(zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH),
        )
        .expect("tiny model");
        let mut text = String::new();
        for name in ["a", "b", "c"] {
            text.push_str(&format!(
                "[diffusion.{name}]\npath = {:?}\nsteps = 1\nguidance_scale = 1.0\n",
                model.display().to_string()
            ));
        }
        let file = dir.join("models.toml");
        std::fs::write(&file, text).expect("catalog");
        Catalog::load(&file).expect("catalog parses")
    }

    /// A worker pins the models routed to it: three models take turns without a reload; an
    /// unpinned renderer keeps the two most recently used.
    #[test]
    fn pinned_models_stay_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = catalog(dir.path());
        let render = |r: &DiffusionRenderer, name: &str| {
            r.render(&spec(name), &mut |_, _| true).expect("renders");
        };
        let pinned = DiffusionRenderer::new(catalog.clone(), candle_core::Device::Cpu, None)
            .with_pinned(vec!["a".into(), "b".into(), "c".into()]);
        for name in ["a", "b", "c", "a", "b", "c"] {
            render(&pinned, name);
        }
        let mut loaded = pinned.loaded_models();
        loaded.sort();
        assert_eq!(loaded, ["a", "b", "c"]);

        let plain = DiffusionRenderer::new(catalog, candle_core::Device::Cpu, None);
        for name in ["a", "b", "a", "c"] {
            render(&plain, name);
        }
        assert_eq!(
            plain.loaded_models(),
            ["a", "c"],
            "b was the least recently used"
        );
    }
}
