//! Persona refresh on a synthetic server (issue 6's figures): a community with planted tastes
//! is loaded into SQLite as one server whose members all consented, an encoder is trained on
//! it, then one scheduled pass infers every member — snapshot → encoder → evidence → offline
//! verbalizer → store — and the personas are checked against the planted truth: the share of
//! members whose persona names at least one of their tastes' descriptor words. The vocabulary
//! is embedded in the community's image space by a synthetic text tower
//! ([`synthetic_text_tower`]), so personas carry the image taste. For contrast, the same
//! verbalizer on evidence ranked by raw interaction counts (no encoder), on counts plus the
//! sceptic's image rule (the member's own mean image, else their reply partners', read by the
//! same tower), and on attention-ranked evidence without the image taste.
//!
//! Issue 17's refresh figures: the store time of the scheduled pass (snapshot, batched reads,
//! batched writes), first when every member gets a new version and again when nothing changed;
//! then `--refresh-members` single-member refreshes (`/persona refresh`: the member's sampled
//! neighbourhood, `--fanout`), timed, and how often the sample reproduces the full pass's
//! evidence (the refresh then finds it unchanged). `--database-url postgres://…` runs it on
//! PostgreSQL (an empty database); `--images` also stores the members' images.
//!
//! With `--gguf FILE`, a few members are also verbalized by the embedded LLM (`local`
//! backend) to time the LLM verbalizer per member.
//!
//! ```sh
//! cargo run --release --example bench_persona -- --members 10000 --images \
//!     [--database-url postgres://postgres@127.0.0.1:5432/bench] \
//!     [--gguf ~/.cache/zipp-ci/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --llm-members 5]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use zipp::config::{PersonaSettings, RewriteConfig};
use zipp::ids::{GuildId, MemberId};
use zipp::lifecycle::seed::{seed_from_graph, seed_images, synthetic_text_tower};
use zipp::lifecycle::{snapshot, PersonaService, Refresh};
use zipp::models::Catalog;
use zipp::rewrite::registry::Rewriters;
use zipp::store::{GuildSetting, Store};
use zipp::verbalize::{offline, EvidenceEntry, PersonaEvidence, Vocabulary};
use zipp_gat::checkpoint::{self, CheckpointMeta, DataStats};
use zipp_gat::encoder::PersonaEncoderConfig;
use zipp_gat::graph::synth::{generate, GroundTruth, SynthConfig};
use zipp_gat::graph::EdgeType;
use zipp_gat::train::{train, TrainConfig};

#[derive(Parser)]
struct Args {
    /// Members of the synthetic server.
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    /// Share of channels with generic names ("general-07") that say nothing of their taste.
    #[arg(long, default_value_t = 0.0)]
    generic_channel_share: f32,
    /// The community: `easy` (the default one) or `hard` (`SynthConfig::hard`; the generic
    /// channel share is then the preset's).
    #[arg(long, default_value = "easy", value_parser = ["easy", "hard"])]
    preset: String,
    /// Training epochs of the encoder.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// GGUF file: also time the LLM verbalizer (local backend) on a few members.
    #[arg(long)]
    gguf: Option<std::path::PathBuf>,
    /// Members verbalized by the LLM.
    #[arg(long, default_value_t = 5)]
    llm_members: usize,
    /// Database (an empty one); default: a new SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Also store the members' images (as `/persona add-image` would).
    #[arg(long)]
    images: bool,
    /// Single-member refreshes timed after the full pass.
    #[arg(long, default_value_t = 50)]
    refresh_members: usize,
    /// `persona.refresh_fanout` of those refreshes (0: the whole server); several, comma
    /// separated, are each measured.
    #[arg(long, value_delimiter = ',', default_values_t = [PersonaSettings::default().refresh_fanout])]
    fanout: Vec<usize>,
}

/// Whether `text` names a descriptor word of one of `member`'s planted tastes.
fn names_a_taste(text: &str, truth: &GroundTruth, member: usize) -> bool {
    let lower = text.to_lowercase();
    truth.member_mixture[member].iter().any(|&(t, _)| {
        truth.tastes[t]
            .descriptors
            .iter()
            .any(|d| lower.contains(d.as_str()))
    })
}

/// Each member's channels and roles ranked by interaction count, as the offline verbalizer's
/// evidence (no encoder), by member index.
fn count_ranked(snap: &snapshot::Snapshot, top_k: usize) -> Vec<PersonaEvidence> {
    let graph = &snap.graph;
    let mut by_member: Vec<Vec<(f32, bool, u32)>> = vec![Vec::new(); graph.members.len()];
    for e in &graph.edges {
        let weight = e.count as f32;
        match e.edge_type {
            EdgeType::Posted | EdgeType::Reacted => {
                by_member[e.src as usize].push((weight, true, e.dst))
            }
            EdgeType::HasRole => by_member[e.src as usize].push((weight, false, e.dst)),
            EdgeType::Replied => {}
        }
    }
    by_member
        .into_iter()
        .map(|mut items| {
            items.sort_by(|a, b| b.0.total_cmp(&a.0));
            let total: f32 = items.iter().map(|x| x.0).sum::<f32>().max(1.0);
            let mut evidence = PersonaEvidence::default();
            for (w, is_channel, idx) in items {
                let entry = |name: &str, topic: Option<String>| EvidenceEntry {
                    name: name.to_owned(),
                    topic,
                    weight: w / total,
                };
                if is_channel && evidence.channels.len() < top_k {
                    let c = &graph.channels[idx as usize];
                    evidence
                        .channels
                        .push(entry(&c.name, Some(c.topic.clone())));
                } else if !is_channel && evidence.roles.len() < top_k {
                    evidence
                        .roles
                        .push(entry(&graph.roles[idx as usize].name, None));
                }
            }
            evidence
        })
        .collect()
}

/// The sceptic's image rule, by member index: the mean of the member's own images, else of
/// their reply partners' images, else nothing.
fn mean_images(snap: &snapshot::Snapshot) -> Vec<Option<Vec<f32>>> {
    let graph = &snap.graph;
    let n = graph.members.len();
    let dim = graph.image_dim().unwrap_or(0);
    let mut own: Vec<(Vec<f32>, usize)> = vec![(vec![0.0; dim], 0); n];
    for image in &graph.images {
        let (sum, count) = &mut own[image.member as usize];
        sum.iter_mut()
            .zip(&image.embedding)
            .for_each(|(s, x)| *s += x);
        *count += 1;
    }
    let mut partners: Vec<(Vec<f32>, usize)> = vec![(vec![0.0; dim], 0); n];
    for e in graph
        .edges
        .iter()
        .filter(|e| e.edge_type == EdgeType::Replied)
    {
        for (me, other) in [(e.src, e.dst), (e.dst, e.src)] {
            let (theirs, count) = own[other as usize].clone();
            if count > 0 {
                let (sum, c) = &mut partners[me as usize];
                sum.iter_mut()
                    .zip(&theirs)
                    .for_each(|(s, x)| *s += x / count as f32);
                *c += 1;
            }
        }
    }
    own.into_iter()
        .zip(partners)
        .map(|((sum, count), (psum, pcount))| {
            if count > 0 {
                Some(sum)
            } else if pcount > 0 {
                Some(psum)
            } else {
                None
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let (graph, truth) = generate(&if args.preset == "hard" {
        SynthConfig {
            n_members: args.members,
            ..SynthConfig::hard(42)
        }
    } else {
        SynthConfig {
            n_members: args.members,
            generic_channel_share: args.generic_channel_share,
            ..SynthConfig::default()
        }
    });
    let is_cold = |i: usize| truth.cold_start.binary_search(&(i as u32)).is_ok();
    let n_cold = (0..args.members).filter(|&i| is_cold(i)).count().max(1) as f64;
    eprintln!(
        "synthetic server: {} members, {} channels, {} roles, {} edges",
        graph.members.len(),
        graph.channels.len(),
        graph.roles.len(),
        graph.edges.len()
    );

    // Train the encoder on the community (images included: they are what ImageAlign needs).
    let started = Instant::now();
    let enc = PersonaEncoderConfig {
        image_dim: graph.image_dim().unwrap_or(64),
        ..PersonaEncoderConfig::default()
    };
    let training = TrainConfig {
        epochs: args.epochs,
        patience: 0,
        ..TrainConfig::default()
    };
    let varmap = candle_nn::VarMap::new();
    let (_, report) = train(&graph, &enc, &training, &varmap, &candle_core::Device::Cpu)?;
    let ckpt = dir.path().join("encoder");
    checkpoint::save(
        &ckpt,
        &varmap,
        &CheckpointMeta::new(
            enc,
            training,
            report.clone(),
            DataStats::of(&graph, "bench"),
        ),
    )?;
    let train_s = started.elapsed().as_secs_f64();
    eprintln!(
        "trained in {train_s:.1} s (validation AUC {:.3})",
        report.val_auc
    );

    // The server in the database.
    let url = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let store = Store::connect(&url, 4).await?;
    let guild = GuildId(1);
    let now = zipp::store::now_ms();
    let started = Instant::now();
    let members = seed_from_graph(&store, guild, &graph, now).await?;
    let images = if args.images {
        seed_images(&store, guild, &graph).await?
    } else {
        0
    };
    eprintln!(
        "seeded in {:.1} s ({images} images)",
        started.elapsed().as_secs_f64()
    );

    let catalog_file = dir.path().join("models.toml");
    let mut catalog_text = "[llm.template]\nbackend = \"template\"\n".to_owned();
    if let Some(gguf) = &args.gguf {
        catalog_text.push_str(&format!(
            "\n[llm.local]\nbackend = \"local\"\npath = {:?}\n",
            gguf.display().to_string()
        ));
    }
    std::fs::write(&catalog_file, catalog_text)?;
    let catalog = Catalog::load(&catalog_file)?;
    let clip = zipp_clip::tokenizer::bundled()?;
    let counter =
        zipp::rewrite::template::counter(move |t| zipp_clip::tokenizer::count_tokens(&clip, t));
    let rewrite_config = RewriteConfig {
        default_llm: "template".to_owned(),
        temperature: 0.0,
        ..RewriteConfig::default()
    };
    let rewriters = Arc::new(Rewriters::new(&catalog, &rewrite_config, counter));
    let settings = PersonaSettings {
        checkpoint: ckpt.clone(),
        verbalize_timeout_ms: 600_000,
        ..PersonaSettings::default()
    };
    let service = PersonaService::new(
        store.clone(),
        settings.clone(),
        Arc::clone(&rewriters),
        None,
        0,
    )?;
    assert!(service.reload_if_newer().await, "checkpoint loads");
    // The vocabulary in the community's image space, for the persona's image taste.
    let vocab = Vocabulary::bundled();
    let tower = synthetic_text_tower(&vocab, &truth, graph.image_dim().unwrap_or(64));
    assert!(service.set_phrase_embeddings(tower.clone()));

    // Stage timings: the snapshot alone, the encoder alone, then the whole refresh.
    let started = Instant::now();
    let snap = snapshot::snapshot(&store, guild, now).await?;
    let snapshot_s = started.elapsed().as_secs_f64();
    let (model, _) = checkpoint::load(&ckpt, &candle_core::Device::Cpu)?;
    let started = Instant::now();
    let inference = zipp_gat::infer::infer(
        &model,
        &snap.graph,
        settings.top_k,
        &candle_core::Device::Cpu,
    )?;
    let encoder_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let run = service.infer_guild(guild).await?;
    let refresh_s = started.elapsed().as_secs_f64();
    eprintln!("{run:?}");
    // Again: nothing changed, nothing is written.
    let started = Instant::now();
    let again = service.infer_guild(guild).await?;
    let again_s = started.elapsed().as_secs_f64();
    eprintln!("{again:?}");

    // Single-member refreshes, spread over the server: each embeds the member's neighbourhood.
    let step = (members.len() / args.refresh_members.max(1)).max(1);
    let evidence_of = |p: &zipp::store::Persona| {
        p.evidence
            .as_deref()
            .and_then(|e| serde_json::from_str::<PersonaEvidence>(e).ok())
    };
    // What the full pass saw for each of them.
    let mut full_pass = HashMap::new();
    let mut full_text = HashMap::new();
    for &m in members.iter().step_by(step).take(args.refresh_members) {
        let latest = store.latest_persona(guild, m, "inferred").await?;
        full_pass.insert(m, latest.as_ref().and_then(evidence_of));
        full_text.insert(m, latest.map(|p| p.text));
    }
    let mut single = Vec::new();
    for &fanout in &args.fanout {
        let service = PersonaService::new(
            store.clone(),
            PersonaSettings {
                refresh_fanout: fanout,
                ..settings.clone()
            },
            Arc::clone(&rewriters),
            None,
            0,
        )?;
        assert!(service.reload_if_newer().await, "checkpoint loads");
        assert!(service.set_phrase_embeddings(tower.clone()));
        let mut times = Vec::new();
        let mut reproduced = 0usize;
        let mut same_top = 0usize;
        let mut same_text = 0usize;
        for &m in members.iter().step_by(step).take(args.refresh_members) {
            let started = Instant::now();
            let outcome = service.refresh(guild, m, false).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            // The same evidence as the full pass (refreshes at other fan-outs may have written
            // versions since: compare with what the full pass saw, not with the latest).
            if let Refresh::Activated(p) | Refresh::Kept(p) | Refresh::Unchanged(p) = &outcome {
                same_text += usize::from(full_text[&m].as_ref() == Some(&p.text));
                let pair = evidence_of(p).zip(full_pass[&m].clone());
                reproduced += usize::from(
                    pair.as_ref()
                        .is_some_and(|(mine, full)| mine.same_sources(full)),
                );
                same_top += usize::from(pair.is_some_and(|(mine, full)| {
                    mine.channels.first().map(|c| &c.name) == full.channels.first().map(|c| &c.name)
                }));
            }
        }
        times.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            times
                .get(((times.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        single.push(serde_json::json!({
            "fanout": fanout,
            "refreshes": times.len(),
            "ms_p50": quantile(0.5),
            "ms_p99": quantile(0.99),
            "reproduces_full_pass": reproduced as f64 / times.len().max(1) as f64,
            "same_top_channel": same_top as f64 / times.len().max(1) as f64,
            "same_persona_text": same_text as f64 / times.len().max(1) as f64,
        }));
    }

    // Quality against the planted truth: the pass's personas (attention-ranked evidence and
    // the image taste: where the encoder places the member in image space, read by the text
    // tower), then the same verbalizer on other evidence: channels and roles ranked by raw
    // counts (no encoder); counts plus the sceptic's image rule (the member's own mean image,
    // else their reply partners') read by the same tower; attention without the image taste.
    let mut named = [0usize; 4];
    let mut cold_named = [0usize; 4];
    let mut with_persona = 0usize;
    let mut with_image_taste = 0usize;
    let mut tally = |row: usize, text: Option<String>, i: usize| {
        let hit = usize::from(text.is_some_and(|t| names_a_taste(&t, &truth, i)));
        named[row] += hit;
        cold_named[row] += if is_cold(i) { hit } else { 0 };
    };
    for (i, &m) in members.iter().enumerate() {
        let persona = store.active_persona(guild, m).await?;
        if let Some(p) = &persona {
            with_persona += 1;
            with_image_taste +=
                usize::from(evidence_of(p).is_some_and(|e| !e.image_taste.is_empty()));
        }
        tally(0, persona.map(|p| p.text), i);
    }
    let counts = count_ranked(&snap, settings.top_k);
    let means = mean_images(&snap);
    for (i, evidence) in counts.into_iter().enumerate() {
        let mut plain = evidence.clone();
        tally(1, offline(&mut plain, &vocab, settings.max_chars), i);
        let mut sceptic = PersonaEvidence {
            image_taste: means[i]
                .as_deref()
                .map(|point| zipp::verbalize::image_taste::image_taste(point, &tower, &vocab))
                .unwrap_or_default(),
            ..evidence
        };
        tally(2, offline(&mut sceptic, &vocab, settings.max_chars), i);
        let ranked = &inference.evidence[i];
        let entries = |items: &[zipp_gat::infer::EvidenceItem], channels: bool| {
            items
                .iter()
                .map(|item| EvidenceEntry {
                    name: item.name.clone(),
                    topic: channels.then(|| snap.graph.channels[item.index as usize].topic.clone()),
                    weight: item.weight,
                })
                .collect()
        };
        let mut attention = PersonaEvidence {
            channels: entries(&ranked.channels, true),
            roles: entries(&ranked.roles, false),
            ..PersonaEvidence::default()
        };
        tally(3, offline(&mut attention, &vocab, settings.max_chars), i);
    }
    let n = members.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "members": members.len(),
            "preset": args.preset,
            "generic_channel_share": args.generic_channel_share,
            "train_s": train_s,
            "snapshot_s": snapshot_s,
            "encoder_s": encoder_s,
            "encoder_members": inference.evidence.len(),
            "database": url.split(':').next(),
            "images": images,
            "refresh_s": refresh_s,
            "refresh_per_10k_s": refresh_s * 10_000.0 / n,
            "pass_store_s": run.store_ms as f64 / 1000.0,
            "pass_encoder_s": run.encoder_ms as f64 / 1000.0,
            "unchanged_pass_s": again_s,
            "unchanged_pass_store_s": again.store_ms as f64 / 1000.0,
            "single_refresh": single,
            "with_persona": with_persona,
            "with_image_taste": with_image_taste,
            "cold_start_members": truth.cold_start.len(),
            "names_a_planted_taste": {
                "rows": ["encoder (attention + image taste)", "counts", "counts + mean image (own, else reply partners')", "attention alone"],
                "all": named.map(|x| x as f64 / n),
                "cold": cold_named.map(|x| x as f64 / n_cold),
            },
        })
    );

    if args.gguf.is_some() {
        store
            .change_guild_setting(guild, GuildSetting::Llm, Some("local"), MemberId(0))
            .await?;
        let llm = rewriters.get(Some("local"));
        llm.preload();
        let started = Instant::now();
        let chat = llm
            .chat_model()
            .ok_or_else(|| anyhow::anyhow!("the `local` entry has no chat model"))?;
        loop {
            match chat
                .complete(vec![zipp::llm::ChatMessage::user("Hi".to_owned())], 1)
                .await
            {
                Err(zipp::llm::LlmError::Unavailable(reason)) if reason.contains("loading") => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                _ => break,
            }
        }
        eprintln!("LLM loaded in {:.1} s", started.elapsed().as_secs_f64());
        let mut times = Vec::new();
        let mut by_llm = 0;
        for &m in members.iter().take(args.llm_members) {
            // A fresh service: no cooldown, and the new text differs from the offline one.
            let started = Instant::now();
            let outcome = service.refresh(guild, m, false).await?;
            times.push(started.elapsed().as_secs_f64());
            if let Refresh::Activated(p) | Refresh::Kept(p) | Refresh::Unchanged(p) = &outcome {
                let verbalizer = p
                    .evidence
                    .as_deref()
                    .and_then(|e| serde_json::from_str::<PersonaEvidence>(e).ok())
                    .map(|e| e.verbalizer)
                    .unwrap_or_default();
                by_llm += usize::from(verbalizer.starts_with("local"));
                eprintln!("[{verbalizer}] {}", p.text);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "llm_verbalizer_members": times.len(),
                "written_by_llm": by_llm,
                "per_member_s_median": times.get(times.len() / 2),
                "per_member_s_max": times.last(),
                "note": "each refresh embeds the member's neighbourhood, then one LLM call",
            })
        );
    }
    store.close().await;
    Ok(())
}
