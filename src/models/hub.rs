//! The Hugging Face hub: downloading a diffusers pipeline's files (FLUX's sharded weights
//! through their index), and the CLIP and safety-checker folders, once into the hub's cache
//! with a progress bar.

use std::path::{Path, PathBuf};

use super::ModelError;

/// A repo on the Hugging Face hub (`HF_ENDPOINT`, `HF_HOME` and `HF_TOKEN` from the
/// environment), with a progress bar for every file it downloads.
pub(super) fn hub_repo(
    repo: &str,
    revision: &str,
) -> Result<hf_hub::api::sync::ApiRepo, ModelError> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| ModelError::Download {
            repo: repo.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(api.repo(hf_hub::Repo::with_revision(
        repo.to_owned(),
        hf_hub::RepoType::Model,
        revision.to_owned(),
    )))
}

/// One file of `repo`, from the cache or downloaded.
pub(super) fn fetch(
    hub: &hf_hub::api::sync::ApiRepo,
    repo: &str,
    file: &str,
) -> Result<PathBuf, ModelError> {
    tracing::info!(
        repo,
        file,
        "fetching model file (cached after the first time)"
    );
    hub.get(file).map_err(|e| ModelError::Download {
        repo: repo.to_owned(),
        reason: format!("{file}: {e}"),
    })
}

/// The files to fetch for one component folder of a diffusers pipeline, by its class in
/// `model_index.json`: (required, optional). Tokenizers' special-token files say which pad
/// token they use (`!` for SD 2.x and SDXL's second tokenizer), so they are fetched when the
/// repo has them.
pub(super) fn component_files(folder: &str, class: &str) -> (Vec<String>, Vec<String>) {
    let f = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{folder}/{n}"))
            .collect::<Vec<_>>()
    };
    match class {
        // T5's tokenizer is read from its tokenizer.json (FLUX's tokenizer_2).
        c if c.starts_with("T5Tokenizer") => (
            f(&["tokenizer.json"]),
            f(&["special_tokens_map.json", "tokenizer_config.json"]),
        ),
        c if c.contains("Tokenizer") => (
            f(&["vocab.json", "merges.txt"]),
            f(&["special_tokens_map.json", "tokenizer_config.json"]),
        ),
        c if c.starts_with("CLIPText") || c.starts_with("T5Encoder") => {
            (f(&["config.json", "model.safetensors"]), vec![])
        }
        c if c.contains("Scheduler") => (f(&["scheduler_config.json"]), vec![]),
        _ => (
            f(&["config.json", "diffusion_pytorch_model.safetensors"]),
            vec![],
        ),
    }
}

/// Downloads (or finds in the Hugging Face cache) the diffusers files of `repo`: what its
/// `model_index.json` lists (both text encoders and tokenizers of SDXL), not the safety
/// checker or feature extractor, which zipp does not use.
pub(super) fn download_diffusers(
    repo: &str,
    revision: &str,
    prefer_fp16: bool,
    own_transformer: bool,
) -> Result<PathBuf, ModelError> {
    let hub = hub_repo(repo, revision)?;
    let index = fetch(&hub, repo, "model_index.json")?;
    let err = |reason: String| ModelError::Download {
        repo: repo.to_owned(),
        reason,
    };
    let text =
        std::fs::read_to_string(&index).map_err(|e| err(format!("model_index.json: {e}")))?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("model_index.json: {e}")))?;
    let components = parsed
        .as_object()
        .ok_or_else(|| err("model_index.json is not a JSON object".to_owned()))?;
    const USED: &[&str] = &[
        "scheduler",
        "text_encoder",
        "text_encoder_2",
        "tokenizer",
        "tokenizer_2",
        "transformer",
        "unet",
        "vae",
    ];
    for (folder, spec) in components {
        let Some(class) = spec.get(1).and_then(serde_json::Value::as_str) else {
            continue; // `_class_name`, `_diffusers_version`, null components
        };
        if !USED.contains(&folder.as_str()) || (own_transformer && folder == "transformer") {
            continue;
        }
        let (required, optional) = component_files(folder, class);
        for file in &required {
            let half = file.replace(".safetensors", ".fp16.safetensors");
            let denoiser = folder == "unet" || folder == "vae";
            if prefer_fp16 && denoiser && half != *file && fetch(&hub, repo, &half).is_ok() {
                continue;
            }
            match fetch(&hub, repo, file) {
                Ok(_) => {}
                // FLUX's transformer and T5 are sharded: the index names the shards.
                Err(missing) => match file.strip_suffix(".safetensors") {
                    Some(stem) => fetch_shards(&hub, repo, folder, stem).map_err(|_| missing)?,
                    None => return Err(missing),
                },
            }
        }
        for file in &optional {
            if let Err(e) = fetch(&hub, repo, file) {
                tracing::debug!(repo, file = %file, error = %e, "optional file not fetched");
            }
        }
    }
    index
        .parent()
        .map(Path::to_owned)
        .ok_or_else(|| err("unexpected cache layout".to_owned()))
}

/// Fetches `<stem>.safetensors.index.json` and every shard its `weight_map` names.
pub(super) fn fetch_shards(
    hub: &hf_hub::api::sync::ApiRepo,
    repo: &str,
    folder: &str,
    stem: &str,
) -> Result<(), ModelError> {
    let index = fetch(hub, repo, &format!("{stem}.safetensors.index.json"))?;
    let text = std::fs::read_to_string(&index).map_err(|e| ModelError::Download {
        repo: repo.to_owned(),
        reason: format!("{}: {e}", index.display()),
    })?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::Download {
            repo: repo.to_owned(),
            reason: format!("{stem}.safetensors.index.json: {e}"),
        })?;
    let mut shards: Vec<&str> = parsed["weight_map"]
        .as_object()
        .map(|m| m.values().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    shards.sort_unstable();
    shards.dedup();
    for shard in shards {
        fetch(hub, repo, &format!("{folder}/{shard}"))?;
    }
    Ok(())
}

/// The local folder of `model`: itself when it is a folder, else a Hugging Face repo id
/// (`openai/clip-vit-base-patch32`) whose `config.json` and `model.safetensors` are downloaded
/// once into the Hugging Face cache, with a progress bar. Blocking.
pub fn ensure_clip_local(model: &str) -> Result<PathBuf, zipp_clip::ClipError> {
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let looks_like_repo = model.split('/').count() == 2 && !model.starts_with(['.', '/']);
    if !looks_like_repo {
        return Err(zipp_clip::ClipError::File {
            path: path.to_path_buf(),
            reason: "not a folder, nor a Hugging Face repo id (owner/name)".to_owned(),
        });
    }
    let err = |reason: String| zipp_clip::ClipError::File {
        path: PathBuf::from(format!("hf://{model}")),
        reason,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| err(e.to_string()))?;
    tracing::info!(
        repo = model,
        "fetching the CLIP model (cached after the first time)"
    );
    let repo = api.model(model.to_owned());
    let mut dir = None;
    for file in ["config.json", "model.safetensors"] {
        let local = repo.get(file).map_err(|e| err(format!("{file}: {e}")))?;
        dir = local.parent().map(Path::to_path_buf);
    }
    dir.ok_or_else(|| err("no files".to_owned()))
}

/// The local folder of the safety checker `spec`: itself when it is a folder, else a Hugging
/// Face repo id with an optional subfolder (`owner/name[/subfolder]`) whose `config.json` and
/// `model.safetensors` are downloaded once into the Hugging Face cache, with a progress bar.
/// Blocking.
pub fn ensure_checker_local(spec: &str) -> Result<PathBuf, zipp_clip::ClipError> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let parts: Vec<&str> = spec.splitn(3, '/').collect();
    let err = |reason: String| zipp_clip::ClipError::File {
        path: PathBuf::from(format!("hf://{spec}")),
        reason,
    };
    if parts.len() < 2 || spec.starts_with(['.', '/']) || parts.iter().any(|p| p.is_empty()) {
        return Err(err(
            "not a folder, nor a Hugging Face repo id (owner/name[/subfolder])".to_owned(),
        ));
    }
    let repo_id = format!("{}/{}", parts[0], parts[1]);
    let prefix = parts.get(2).map(|s| format!("{s}/")).unwrap_or_default();
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| err(e.to_string()))?;
    tracing::info!(
        repo = spec,
        "fetching the image safety checker (cached after the first time)"
    );
    let repo = api.model(repo_id);
    let mut dir = None;
    for file in ["config.json", "model.safetensors"] {
        let local = repo
            .get(&format!("{prefix}{file}"))
            .map_err(|e| err(format!("{file}: {e}")))?;
        dir = local.parent().map(Path::to_path_buf);
    }
    dir.ok_or_else(|| err("no files".to_owned()))
}
