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
