//! Images: renders embedded for ImageAlign, and `/persona add-image`.

use fake_discord::fixtures::{message_create, opt_int, opt_str, DEFAULT_USER_ID};
use serde_json::{json, Value};
use zipp::ids::{GuildId, MemberId};

use super::*;

/// With a CLIP model configured, the worker embeds every render; the snapshot gives the encoder
/// the images members kept (not the persona side of a comparison they decided against); an
/// encoder trained on it aligns members with their images; forget removes the embeddings.
async fn renders_feed_image_align(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let clip_dir = setup.dir.path().join("clip");
    zipp_clip::write_tiny(&clip_dir).expect("tiny CLIP");
    let mut config = setup.config();
    config.render.clip_model = clip_dir.display().to_string();
    config.persona.checkpoint = setup.dir.path().join("encoder");
    config.persona.train_epochs = 2;
    config.persona.infer_every_s = 0;
    config.ingest.flush_ms = 50;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    ephemeral(
        &persona(
            fake,
            990_000_000_000_000_001,
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );
    app.store
        .add_persona(guild, alice, "edited", "I love foggy harbours.", None)
        .await
        .expect("persona");
    // Some activity in four channels, so there are links to learn from.
    for c in 0..4u64 {
        for i in 0..2u64 {
            let mut m = message_create(
                fake.config(),
                991_000_000_000_000_000 + 10 * c + i,
                DEFAULT_USER_ID,
                "alice",
                "text is never stored",
            );
            m["channel_id"] = json!((2_000_000 + c).to_string());
            fake.dispatch("MESSAGE_CREATE", m).await;
        }
    }
    for _ in 0..polls(25) {
        if edge_count(&app, guild, alice).await >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(edge_count(&app, guild, alice).await, 8);
    let (_, token) = dispatch_imagine(
        fake,
        990_000_000_000_000_002,
        vec![opt_str("prompt", "a red fox")],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    let (_, token) = dispatch_imagine(
        fake,
        990_000_000_000_000_003,
        vec![opt_str("prompt", "a boat"), opt_int("persona", 2)],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    let mut images = Vec::new();
    for _ in 0..polls(25) {
        images = app.store.engaged_images(guild).await.expect("images");
        if images.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(images.len(), 2, "both renders are embedded");
    assert!(images.iter().all(|(m, e)| *m == alice && e.len() == 16));
    let norm: f32 = images[0].1.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    // Alice prefers the generic side of the comparison: its persona image no longer counts.
    let job = app
        .store
        .job(zipp::ids::JobId(2))
        .await
        .expect("read")
        .expect("job 2");
    let generic = job.compare.expect("compare").persona_side.other();
    component(
        fake,
        990_000_000_000_000_004,
        DEFAULT_USER_ID,
        &format!("zipp-pick:2:{}", generic.as_str()),
        None,
    )
    .await;
    assert_eq!(
        app.store.engaged_images(guild).await.expect("images").len(),
        1
    );
    let snap = zipp::lifecycle::snapshot::snapshot(&app.store, guild, zipp::store::now_ms())
        .await
        .expect("snapshot");
    assert_eq!(snap.graph.images.len(), 1);
    assert_eq!(snap.graph.image_dim(), Some(16));

    // Training on what the bot collected uses them: the encoder's image space is CLIP's.
    let personas = app.personas.as_ref().expect("persona service");
    personas.train_now().await.expect("training").expect("data");
    assert!(personas.reload_if_newer().await);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(setup.dir.path().join("encoder/persona.json")).expect("meta"),
    )
    .expect("json");
    assert_eq!(meta["encoder"]["image_dim"], 16);
    // Channels and roles are described by CLIP's text embeddings too.
    assert_eq!(meta["encoder"]["text_features"], "clip");
    assert_eq!(meta["encoder"]["text_dim"], 16);
    assert_eq!(meta["data"]["images"], 1, "{}", meta["data"]);

    // Inference with the new encoder and the images; the offline verbalizer also matches with
    // CLIP's text tower. Alice's own persona stays in use.
    let outcome = personas
        .refresh(guild, alice, false)
        .await
        .expect("refresh with CLIP");
    let zipp::lifecycle::Refresh::Kept(p) = outcome else {
        panic!("{outcome:?}");
    };
    // (The tiny CLIP's weights are random: which descriptors it adds means nothing here.)
    assert!(p.text.starts_with("I'm drawn to"), "{}", p.text);
    assert!(p.text.contains("\"a boat\""), "{}", p.text);
    // The encoder was trained with ImageAlign on CLIP's images: it places Alice in CLIP's
    // image space, and CLIP's text tower names that point with the vocabulary's phrases.
    let evidence: zipp::verbalize::PersonaEvidence =
        serde_json::from_str(p.evidence.as_deref().expect("evidence")).expect("json");
    assert!(
        (1..=3).contains(&evidence.image_taste.len()),
        "{:?}",
        evidence.image_taste
    );

    // Forget: the embeddings go with everything else.
    let answer = component(
        fake,
        990_000_000_000_000_005,
        DEFAULT_USER_ID,
        "zipp-forget:confirm",
        None,
    )
    .await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert!(app
        .store
        .engaged_images(guild)
        .await
        .expect("images")
        .is_empty());
    setup.finish(app).await;
}

on_both_databases!(renders_feed_image_align);

/// Images members hand over: PNG, JPEG and WebP are embedded and count toward their taste;
/// a truncated file, a 20000×20000 header, a non-image, a 30 MB file, a body larger than it
/// claimed — each a clear ephemeral refusal with nothing stored.
async fn members_add_images(kind: Db) {
    use image::ImageFormat::{Jpeg, Png, WebP};
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let clip_dir = setup.dir.path().join("clip");
    zipp_clip::write_tiny(&clip_dir).expect("tiny CLIP");
    let mut config = setup.config();
    config.render.clip_model = clip_dir.display().to_string();
    config.persona.max_image_bytes = 2 * 1024 * 1024;
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let mut id = 995_000_000_000_000_000u64;
    let mut next = || {
        id += 1;
        id
    };
    let attach = |name: &str, ct: &str, bytes: Vec<u8>| {
        let n = bytes.len();
        fake.add_attachment(name, ct, bytes, n)
    };

    // Without consent, nothing is taken.
    let png = image_bytes(Png, 48, 40);
    let text = add_image(
        fake,
        next(),
        DEFAULT_USER_ID,
        attach("a.png", "image/png", png.clone()),
    )
    .await;
    assert_eq!(
        text,
        "Images you add count toward your persona, so zipp needs your consent first: /persona consent on."
    );
    ephemeral(
        &persona(
            fake,
            next(),
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );

    for (name, ct, bytes) in [
        ("a.png", "image/png", png.clone()),
        ("b.jpg", "image/jpeg", image_bytes(Jpeg, 64, 32)),
        ("c.webp", "image/webp", image_bytes(WebP, 20, 20)),
    ] {
        let text = add_image(fake, next(), DEFAULT_USER_ID, attach(name, ct, bytes)).await;
        assert!(
            text.starts_with("Added: this image now counts toward your taste."),
            "{name}: {text}"
        );
    }
    // A PNG whose header claims 20000×20000 (CRC fixed, so only the size lies).
    let mut bomb = image_bytes(Png, 1, 1);
    bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    let refusals = [
        (
            attach("t.png", "image/png", png[..png.len() / 2].to_vec()),
            "I couldn't read that image",
        ),
        (
            attach("bomb.png", "image/png", bomb),
            "That image has too many pixels; the limit is 16 megapixels.",
        ),
        (
            attach(
                "notes.png",
                "image/png",
                b"just some text, not an image".to_vec(),
            ),
            "That file is not a PNG, JPEG or WebP image.",
        ),
        (
            attach("doc.pdf", "application/pdf", b"%PDF-1.4".to_vec()),
            "That file is not a PNG, JPEG or WebP image.",
        ),
        (
            fake.add_attachment("huge.png", "image/png", png.clone(), 30 * 1024 * 1024),
            "That file is too large; the limit is 2 MB.",
        ),
        (
            // Claims to be small, is 3 MB: caught while downloading.
            fake.add_attachment("liar.png", "image/png", vec![0x89; 3 * 1024 * 1024], 1000),
            "That file is too large; the limit is 2 MB.",
        ),
    ];
    for (attachment, want) in refusals {
        let name = attachment["filename"].as_str().unwrap().to_owned();
        let text = add_image(fake, next(), DEFAULT_USER_ID, attachment).await;
        assert!(text.starts_with(want), "{name}: {text}");
    }
    let images = app.store.engaged_images(guild).await.expect("images");
    assert_eq!(images.len(), 3, "only the three valid images");
    assert!(images
        .iter()
        .all(|(m, e)| m.0 == DEFAULT_USER_ID && e.len() == 16));
    assert!(fake.unhandled_requests().is_empty());
    setup.finish(app).await;
}

on_both_databases!(members_add_images);
