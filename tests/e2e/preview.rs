//! Live previews: progress edits carry a small image projected from the latents every few
//! steps; the result replaces it.

use std::sync::{mpsc, Arc, Mutex};

use fake_discord::fixtures::opt_str;
use zipp::render::{Preview, Progress, RenderError, RenderSpec, Renderer};

use crate::harness::*;

/// The real diffusion renderer, held after the progress of the first step that made a preview
/// until the test saw that preview on Discord (a tiny render is faster than any poll).
struct HeldAfterFirstPreview {
    inner: zipp::render::engine::DiffusionRenderer,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Renderer for HeldAfterFirstPreview {
    fn render(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        self.inner.render(spec, progress)
    }

    fn render_previewed(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
        every: u32,
        preview: Preview<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        let previewed = std::cell::Cell::new(false);
        let mut held = false;
        let mut on_preview = |step: u32, image: image::RgbImage| {
            previewed.set(true);
            preview(step, image);
        };
        // The preview of a step comes before its progress: hold after that progress.
        let mut on_progress = |done: u32, total: u32| {
            let go_on = progress(done, total);
            if !held && previewed.get() {
                held = true;
                let release = self.release.lock().expect("lock");
                let _ = release.recv_timeout(WAIT);
            }
            go_on
        };
        self.inner
            .render_previewed(spec, &mut on_progress, every, &mut on_preview)
    }
}

/// With a preview every 2 of 6 steps, the deferred reply is edited with `preview.png` (one
/// pixel per latent pixel) before the result, each preview newer than the last; the result's
/// edit leaves only the image on the message; the preview is not kept once the job is done.
async fn progress_edits_carry_a_live_preview(kind: Db) {
    let setup = Setup::new(kind, 6).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.render.preview_every = 2;
    let (release, held) = mpsc::channel();
    let renderer = HeldAfterFirstPreview {
        inner: zipp::render::engine::DiffusionRenderer::new(
            zipp::models::Catalog::load(&setup.catalog).expect("catalog"),
            candle_core::Device::Cpu,
            None,
        ),
        release: Mutex::new(held),
    };
    let app = start_app(config, true, 1, Some(Arc::new(renderer)), &setup.guard).await;
    wait_registered(fake).await;
    let (_, token) = dispatch_imagine(
        fake,
        908_000_000_000_000_001,
        vec![opt_str("prompt", "a red cat")],
        |b| b,
    )
    .await;
    let webhook = webhook_path(fake.config().app_id, &token);
    fake.wait_for_request("a progress edit with a preview", WAIT, |r| {
        r.method == "PATCH"
            && r.path.strip_prefix(webhook.as_str()) == Some("/messages/@original")
            && r.files.iter().any(|f| f.filename == "preview.png")
    })
    .await
    .expect("a preview is shown while rendering");
    release.send(()).expect("the render waits");
    let result = image_of(fake, &token).await;
    let previews: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PATCH"
                && r.path.strip_prefix(webhook.as_str()) == Some("/messages/@original")
                && r.seq < result.seq
                && !r.files.is_empty()
        })
        .collect();
    assert!(!previews.is_empty(), "no preview before the result");
    let mut last = Vec::new();
    for edit in &previews {
        assert_eq!(edit.files.len(), 1);
        let file = &edit.files[0];
        assert_eq!(file.filename, "preview.png");
        let image = image::load_from_memory(&file.bytes).expect("a PNG");
        assert_eq!(
            (image.width(), image.height()),
            (8, 8),
            "one pixel per latent pixel"
        );
        assert_ne!(file.bytes, last, "each preview is a newer one");
        last.clone_from(&file.bytes);
        let text = edit.json.as_ref().expect("json")["content"]
            .as_str()
            .expect("content")
            .to_owned();
        assert!(text.starts_with("Rendering — step "), "{text}");
    }
    // The result's edit names only the image: the preview is gone from the message.
    let message = result.response_json.clone().expect("the message");
    let names: Vec<&str> = message["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(names, ["imagine.png"]);
    assert!(app
        .store
        .preview(zipp::ids::JobId(1), 0)
        .await
        .expect("read")
        .is_none());
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(progress_edits_carry_a_live_preview);
