//! What the container builds may see and run as: secrets and local data never enter the build
//! context, both images run as an unprivileged user, and compose takes every secret from the
//! environment.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn secrets_never_enter_an_image_and_nothing_runs_as_root() {
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["config/secrets.toml", "data/", "target/", ".env", "*.db"] {
        assert!(ignored.contains(&must), ".dockerignore lacks {must}");
    }
    for dockerfile in ["deploy/Dockerfile", "deploy/Dockerfile.cuda"] {
        let text = read(dockerfile);
        let final_stage = text.rsplit("\nFROM ").next().unwrap_or(&text);
        let user = final_stage
            .lines()
            .filter_map(|l| l.trim().strip_prefix("USER "))
            .next_back()
            .unwrap_or_else(|| panic!("{dockerfile}: the final image sets no USER"));
        assert!(
            !["root", "0"].contains(&user.trim()),
            "{dockerfile} runs as {user}"
        );
    }
    let compose = read("deploy/compose.yaml");
    for line in compose.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("POSTGRES_PASSWORD:") {
            assert!(value.trim().starts_with("${"), "a literal password: {line}");
        }
        if line.contains("postgres://") {
            let url = line.split("postgres://").nth(1).unwrap_or("");
            let password = url.split('@').next().unwrap_or("").split(':').nth(1);
            assert!(
                password.is_none_or(|p| p.starts_with("${")),
                "a literal password in a URL: {line}"
            );
        }
    }
}

/// The metric names of `src/observe.rs` (`pub const … = "zipp_…"`).
fn defined_metrics() -> Vec<String> {
    read("src/observe.rs")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split('"').nth(1))
        .filter(|name| name.starts_with("zipp_"))
        .map(str::to_owned)
        .collect()
}

/// Every metric the Grafana dashboard queries is one zipp records, and every one zipp records
/// is on the dashboard.
#[test]
fn the_dashboard_shows_every_metric_and_only_those() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/zipp.json")).expect("the dashboard is JSON");
    let defined = defined_metrics();
    assert!(defined.len() >= 10, "{defined:?}");
    let mut used = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("zipp_") {
                    let name = format!("zipp_{name}");
                    let base = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(&name)
                        .to_owned();
                    assert!(defined.contains(&base), "{base} is not recorded ({expr})");
                    used.insert(base);
                }
            }
        }
    }
    for name in &defined {
        assert!(used.contains(name), "{name} is not on the dashboard");
    }
}

/// Both long-running services serve the health endpoints, and compose checks them with
/// `zipp ready`.
#[test]
fn compose_checks_the_health_of_bot_and_worker() {
    let compose = read("deploy/compose.yaml");
    for service in ["  bot:", "  worker:"] {
        let block = &compose[compose.find(service).expect("service")..];
        let block = block
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("    ") || l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            block.contains("ZIPP_OBSERVE__LISTEN: 0.0.0.0:9090"),
            "{service}\n{block}"
        );
        assert!(
            block.contains(r#"test: ["CMD", "zipp", "ready"]"#),
            "{service}\n{block}"
        );
    }
}

/// The Kubernetes manifests validate against the Kubernetes API's schemas (strict: no unknown
/// field), and their probes, ports and secrets are the ones zipp serves and reads.
#[test]
fn the_kubernetes_manifests_are_valid() {
    let dir = std::path::Path::new(ROOT).join("deploy/k8s");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    // Installed by .ci/setup (PyPI `kubernetes-validate`); a missing tool fails, never skips.
    let out = std::process::Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.30.0"])
        .args(&files)
        .output()
        .expect("python3 runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate (run .ci/setup to install it):\n{report}"
    );
    assert!(!report.contains("ERROR"), "{report}");
    let text = |name: &str| read(&format!("deploy/k8s/{name}"));
    for (file, args) in [("bot.yaml", r#"["bot"]"#), ("worker.yaml", r#"["worker"]"#)] {
        let manifest = text(file);
        assert!(manifest.contains(&format!("args: {args}")), "{file}");
        assert!(manifest.contains("path: /healthz, port: metrics"), "{file}");
        assert!(manifest.contains("path: /readyz, port: metrics"), "{file}");
        assert!(manifest.contains("containerPort: 9090"), "{file}");
        assert!(manifest.contains("secretRef: { name: zipp }"), "{file}");
    }
    assert!(text("config.yaml").contains(r#"ZIPP_OBSERVE__LISTEN: "0.0.0.0:9090""#));
    assert!(text("migrate.yaml").contains(r#"args: ["migrate"]"#));
    // Each bot pod runs its own shard of as many as there are pods.
    let bot = text("bot.yaml");
    let replicas = bot
        .lines()
        .find_map(|l| l.trim().strip_prefix("replicas: "))
        .expect("replicas");
    assert!(
        bot.contains(&format!(r#"value: "$(POD_INDEX)/{replicas}""#)),
        "{bot}"
    );
    // No secret value in any manifest.
    for file in &files {
        let manifest = std::fs::read_to_string(file).expect("read");
        assert!(
            !manifest.contains("kind: Secret"),
            "{file:?} holds a Secret"
        );
        assert!(
            !manifest.contains("postgres://zipp:"),
            "{file:?} holds a password"
        );
    }
}

/// `deploy/compose.yaml` follows the Compose specification (its JSON schema, fetched by
/// `.ci/setup`): a misspelt key or a wrong type fails here, not at an operator's first `up`.
#[test]
fn the_compose_file_follows_the_compose_specification() {
    let spec = std::env::var("TEST_COMPOSE_SPEC")
        .expect("TEST_COMPOSE_SPEC: run the tests through .ci/test, which runs .ci/setup");
    let validate = |file: &Path| {
        std::process::Command::new("python3")
            .arg(Path::new(ROOT).join("tests/deploy/validate_compose.py"))
            .arg(&spec)
            .arg(file)
            .output()
            .expect("python3 runs")
    };
    let out = validate(&Path::new(ROOT).join("deploy/compose.yaml"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check finds a misspelt key.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("compose.yaml");
    std::fs::write(
        &broken,
        read("deploy/compose.yaml").replace("restart: unless-stopped", "restrat: unless-stopped"),
    )
    .expect("write");
    let out = validate(&broken);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("restrat"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `deploy/gpu-check.sh` (the GPU machine's check) is valid shell, runs the `gpu_check`
/// example, and that example is the library's check (`zipp_diffusion::device_check`, whose
/// quick run is tested on the CPU).
#[test]
fn the_gpu_check_script_runs_the_device_check() {
    let script = read("deploy/gpu-check.sh");
    let status = std::process::Command::new("bash")
        .args(["-n", "deploy/gpu-check.sh"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("bash");
    assert!(status.success(), "gpu-check.sh has a syntax error");
    assert!(script.contains("--example gpu_check") && script.contains("--features cuda"));
    let example = read("crates/zipp-diffusion/examples/gpu_check.rs");
    assert!(example.contains("device_check::{run, DeviceCheck}"));
}
