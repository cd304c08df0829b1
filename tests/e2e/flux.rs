//! A FLUX.1 catalog entry end to end: `/imagine` renders with the diffusers-saved FLUX fixture
//! (the same files `FluxPipeline` ran for the parity check), and an entry whose transformer file
//! is missing fails politely.

use fake_discord::fixtures::opt_str;

use crate::harness::*;
use crate::imagine::failure_notice;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flux_entry_renders_and_a_broken_one_fails_politely() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sd/flux-schnell/model")
        .display()
        .to_string();
    let missing = setup.dir.path().join("flux1-schnell-Q4_K_S.gguf");
    let mut catalog = std::fs::read_to_string(&setup.catalog).expect("catalog");
    catalog.push_str(&format!(
        "\n[diffusion.flux]\npath = {model:?}\nsteps = 2\nguidance_scale = 0.0\nwidth = 96\nheight = 64\n\
         \n[diffusion.flux-gguf]\npath = {model:?}\ntransformer = {:?}\nsteps = 2\nguidance_scale = 0.0\n",
        missing.display().to_string()
    ));
    std::fs::write(&setup.catalog, catalog).expect("write catalog");
    let mut config = setup.config();
    config.render.default_model = "flux".to_owned();
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;

    let (_, token) = dispatch_imagine(
        fake,
        962_000_000_000_000_001,
        vec![opt_str("prompt", "a red fox in the snow")],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    let png = image::load_from_memory(&delivered.files[0].bytes).expect("a PNG");
    assert_eq!((png.width(), png.height()), (96, 64));

    app.store
        .change_guild_setting(
            zipp::ids::GuildId(fake.config().guild_id),
            zipp::store::GuildSetting::DiffusionModel,
            Some("flux-gguf"),
            zipp::ids::MemberId(1),
        )
        .await
        .expect("choose the model");
    let (_, token) = dispatch_imagine(
        fake,
        962_000_000_000_000_002,
        vec![opt_str("prompt", "a dog")],
        |b| b,
    )
    .await;
    let content = failure_notice(fake, &token).await;
    assert!(content.contains("could not be loaded"), "{content}");
    assert!(!content.contains("gguf"), "no raw error: {content}");
    setup.finish(app).await;
}
