//! The `zipp` binary: help texts, and an unusable configuration failing with one line that names
//! the key.

use std::process::Command;

fn zipp(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_zipp"));
    command
        .args(args)
        .current_dir(dir.path())
        .env_remove("DISCORD_TOKEN");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("zipp runs")
}

#[test]
fn every_subcommand_explains_itself() {
    let out = zipp(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "run", "bot", "worker", "migrate", "train", "infer", "eval", "graph",
    ] {
        assert!(help.contains(sub), "{help}");
        let out = zipp(&[sub, "--help"], &[]);
        assert!(out.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--config"),
            "{sub} --help"
        );
    }
}

#[test]
fn unusable_config_fails_with_one_line_naming_the_key() {
    let cases = [
        (
            vec![("ZIPP_RENDER__LEASE_SECS", "soon")],
            "render.lease_secs",
        ),
        (vec![("ZIPP_DATABASE__URL", "mysql://x")], "database.url"),
        (vec![("ZIPP_RENDER__DEVICE", "tpu")], "render.device"),
        (
            vec![("ZIPP_DISCORD__API_URL", "ftp://x")],
            "discord.api_url",
        ),
    ];
    for (env, key) in cases {
        let out = zipp(&["migrate"], &env);
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{stderr} lacks {key}");
    }
    let out = zipp(&["--config", "/nonexistent/zipp.toml", "migrate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn missing_token_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/z.db", dir.path().display());
    let out = zipp(&["bot"], &[("ZIPP_DATABASE__URL", &url)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DISCORD_TOKEN"), "{stderr}");
}

/// Secrets never reach the output: not from a malformed secrets file (the parser's message would
/// quote the token's line), not from a database URL with a password.
#[test]
fn errors_never_print_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, "discord_token = \"MTIz.sekrit-token-value\n").expect("write");
    let url = format!("sqlite://{}/z.db", dir.path().display());
    let secrets_path = secrets.display().to_string();
    let out = zipp(
        &["bot"],
        &[
            ("ZIPP_DATABASE__URL", &url),
            ("ZIPP_DISCORD__SECRETS_FILE", &secrets_path),
        ],
    );
    assert!(!out.status.success());
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(output.contains("secrets.toml"), "{output}");
    assert!(!output.contains("sekrit"), "the token leaked: {output}");
    for url in [
        "mysql://zipp:hunter2@db/zipp",
        "postgres//zipp:hunter2@db/zipp?password=hunter2",
    ] {
        let out = zipp(&["migrate"], &[("ZIPP_DATABASE__URL", url)]);
        assert!(!out.status.success());
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(output.contains("database.url"), "{output}");
        assert!(!output.contains("hunter2"), "the password leaked: {output}");
    }
}

#[test]
fn migrate_creates_the_sqlite_file_and_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("nested/dir/zipp.db");
    let url = format!("sqlite://{}", db.display());
    let out = zipp(&["migrate"], &[("ZIPP_DATABASE__URL", &url)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file());
}

#[test]
fn graph_synth_writes_a_community_with_its_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("community");
    let out_arg = out.to_str().expect("utf8");
    let run = zipp(
        &[
            "graph",
            "synth",
            "--out",
            out_arg,
            "--members",
            "200",
            "--seed",
            "7",
        ],
        &[],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (graph, truth) = zipp_gat::graph::io::load(&out).expect("loads");
    assert_eq!(graph.members.len(), 200);
    assert_eq!(truth.member_mixture.len(), 200);
    assert!(!graph.edges.is_empty());
}

#[test]
fn graph_synth_hard_preset_is_the_library_community_with_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("hard");
    let out_arg = out.to_str().expect("utf8");
    let args = [
        "graph",
        "synth",
        "--out",
        out_arg,
        "--preset",
        "hard",
        "--members",
        "150",
        "--untyped-channels",
        "2",
        "--seed",
        "4",
    ];
    let run = zipp(&args, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected = zipp_gat::graph::synth::generate(&zipp_gat::graph::synth::SynthConfig {
        n_members: 150,
        untyped_channels: 2,
        ..zipp_gat::graph::synth::SynthConfig::hard(4)
    });
    let (graph, truth) = zipp_gat::graph::io::load(&out).expect("loads");
    assert_eq!((graph, truth), expected);
    let bad = zipp(
        &["graph", "synth", "--out", out_arg, "--preset", "medium"],
        &[],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("hard"));
}

#[test]
fn train_writes_a_checkpoint_with_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = dir.path().join("community");
    let graph_arg = graph.to_str().expect("utf8");
    let out = dir.path().join("model");
    let out_arg = out.to_str().expect("utf8");
    let synth = zipp(
        &[
            "graph",
            "synth",
            "--out",
            graph_arg,
            "--members",
            "120",
            "--tastes",
            "4",
            "--channels",
            "10",
            "--roles",
            "4",
        ],
        &[],
    );
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    let run = zipp(
        &[
            "train", "--graph", graph_arg, "--out", out_arg, "--epochs", "5",
        ],
        &[],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.join("persona.safetensors").is_file());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("persona.json")).expect("read"))
            .expect("json");
    assert_eq!(meta["training"]["epochs"], 5);
    assert_eq!(meta["data"]["members"], 120);
    assert!(meta["report"]["val_auc"].as_f64().is_some());
    let missing = zipp(&["train", "--graph", "/nonexistent", "--out", out_arg], &[]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("graph.json"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// `zipp graph synth` into `dir/community` with `members` members; returns the folder.
fn small_community(dir: &std::path::Path, members: &str) -> std::path::PathBuf {
    let graph = dir.join("community");
    let synth = zipp(
        &[
            "graph",
            "synth",
            "--out",
            graph.to_str().expect("utf8"),
            "--members",
            members,
            "--tastes",
            "4",
            "--channels",
            "10",
            "--roles",
            "4",
        ],
        &[],
    );
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    graph
}

#[test]
fn infer_writes_evidence_for_every_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = small_community(dir.path(), "120");
    let graph_arg = graph.to_str().expect("utf8");
    let model = dir.path().join("model");
    let model_arg = model.to_str().expect("utf8");
    let train = zipp(
        &[
            "train", "--graph", graph_arg, "--out", model_arg, "--epochs", "3", "--quiet",
        ],
        &[],
    );
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let out = dir.path().join("evidence.json");
    let run = zipp(
        &[
            "infer",
            "--checkpoint",
            model_arg,
            "--graph",
            graph_arg,
            "--out",
            out.to_str().expect("utf8"),
            "--top",
            "2",
            "--embeddings",
        ],
        &[],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    let members = doc["members"].as_array().expect("members");
    assert_eq!(members.len(), 120);
    let first = &members[0];
    assert!(first["channels"].as_array().expect("channels").len() <= 2);
    assert!(first["channels"][0]["name"].is_string());
    assert_eq!(first["embedding"].as_array().expect("embedding").len(), 64);

    // A checkpoint with a damaged tensor is refused with the tensor's name.
    let weights = model.join("persona.safetensors");
    let mut tensors =
        candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).expect("read");
    tensors.remove("conv1.att");
    candle_core::safetensors::save(&tensors, &weights).expect("write");
    let bad = zipp(
        &[
            "infer",
            "--checkpoint",
            model_arg,
            "--graph",
            graph_arg,
            "--out",
            out.to_str().expect("utf8"),
        ],
        &[],
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("missing tensor conv1.att"), "{stderr}");
}

#[test]
fn eval_prints_the_ablation_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = small_community(dir.path(), "100");
    let json = dir.path().join("table.json");
    let run = zipp(
        &[
            "eval",
            "--graph",
            graph.to_str().expect("utf8"),
            "--epochs",
            "2",
            "--quiet",
            "--json",
            json.to_str().expect("utf8"),
        ],
        &[],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    for row in [
        "no graph (mean image)",
        "counts (popularity, mean taste)",
        "TF-IDF channel profile",
        "reply partners' mean image",
        "label propagation (images)",
        "GAT, no ImageAlign",
        "GAT + ImageAlign",
        "cold P@3",
        "post acc",
    ] {
        assert!(stdout.contains(row), "{stdout}");
    }
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("read")).expect("json");
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 7);
    assert!(
        rows.iter().all(|r| r["posting_accuracy"].is_number()),
        "{table}"
    );
}

/// `zipp graph export` and `zipp train --from-db` read what the bot collected: consenting
/// members only, pseudonymous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_train_from_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("zipp.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let store = zipp::store::Store::connect(&url, 2).await.expect("db");
    let (graph, _) = zipp_gat::graph::synth::generate(&zipp_gat::graph::synth::SynthConfig {
        n_members: 40,
        n_tastes: 2,
        n_channels: 4,
        n_roles: 2,
        image_dim: 8,
        ..Default::default()
    });
    let guild = zipp::ids::GuildId(77);
    zipp::lifecycle::seed::seed_from_graph(&store, guild, &graph, zipp::store::now_ms())
        .await
        .expect("seeded");
    store.close().await;
    let env = [("ZIPP_DATABASE__URL", url.as_str())];

    let export = dir.path().join("export");
    let out = zipp(
        &[
            "graph",
            "export",
            "--guild",
            "77",
            "--out",
            export.to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = zipp_gat::graph::io::load_graph(&export).expect("graph.json");
    exported.validate().expect("valid");
    assert_eq!(exported.members.len(), 40);
    assert_eq!(exported.edges.len(), graph.edges.len());
    assert!(
        exported.images.is_empty(),
        "the store keeps no image embeddings"
    );
    assert!(
        exported
            .members
            .iter()
            .enumerate()
            .all(|(i, m)| m.name == format!("member-{i}")),
        "members are pseudonyms"
    );

    // Or straight into one file.
    let file = dir.path().join("out/server.json");
    let out = zipp(
        &[
            "graph",
            "export",
            "--guild",
            "77",
            "--out",
            file.to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let same: zipp_gat::graph::Graph =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("file")).expect("json");
    // (Recency moved on between the two exports; everything else is the same.)
    let shape = |g: &zipp_gat::graph::Graph| {
        g.edges
            .iter()
            .map(|e| (e.src, e.dst, e.edge_type, e.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (&same.members, &same.channels, &same.roles, shape(&same)),
        (
            &exported.members,
            &exported.channels,
            &exported.roles,
            shape(&exported)
        )
    );

    let ckpt = dir.path().join("ckpt");
    let out = zipp(
        &[
            "train",
            "--from-db",
            "--out",
            ckpt.to_str().unwrap(),
            "--epochs",
            "2",
            "--quiet",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("persona.json")).expect("meta"))
            .expect("json");
    assert_eq!(meta["data"]["source"], "database (1 server)");
    assert!(ckpt.join("persona.safetensors").is_file());
    assert!(!ckpt.join("persona.safetensors.partial").exists());

    // Nothing to train on: a clear error, not an empty checkpoint.
    let empty = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("empty.db").display()
    );
    let out = zipp(
        &[
            "train",
            "--from-db",
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
        &[("ZIPP_DATABASE__URL", empty.as_str())],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no consenting members"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --graph and --from-db exclude each other; one of them is needed.
    let out = zipp(&["train", "--out", "x"], &[]);
    assert_eq!(out.status.code(), Some(2));
}
