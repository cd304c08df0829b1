//! The model catalog (`config/models.toml`) and weight resolution.
//!
//! A model is named in the catalog, or given directly as the path of a local directory in the
//! diffusers layout. Resolution order: a local `path`, else the Hugging Face cache, else a
//! download from the hub with a progress bar (only for real users: tests always use local paths).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::Format as _;
use serde::Deserialize;

mod hub;
use hub::{download_diffusers, fetch, hub_repo};
pub use hub::{ensure_checker_local, ensure_clip_local};

/// The diffusers files a Stable Diffusion directory must hold.
const DIFFUSERS_FILES: &[&str] = &[
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
];

/// The files a FLUX.1 directory must hold, each weights file as one `.safetensors` or as the
/// index of its shards (`.safetensors.index.json`); `transformer/` may be replaced by the entry's
/// `transformer` file.
const FLUX_FILES: &[&str] = &[
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
    "tokenizer_2/tokenizer.json",
    "transformer/config.json",
    "transformer/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
];

/// A catalog problem, or a model that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The catalog file is unreadable or malformed.
    #[error("model catalog {path}: {reason}")]
    Catalog {
        /// The catalog file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No catalog entry and no local directory of that name.
    #[error("unknown diffusion model {0:?}: not in the catalog and not a local directory")]
    Unknown(String),
    /// The entry exists but is marked unavailable.
    #[error("diffusion model {0:?} is marked unavailable in the catalog")]
    Unavailable(String),
    /// A local directory lacks a required file.
    #[error("model directory {dir} is missing {file}")]
    MissingFile {
        /// The directory.
        dir: PathBuf,
        /// The missing file.
        file: String,
    },
    /// Downloading from the hub failed.
    #[error("downloading {repo} failed: {reason}")]
    Download {
        /// The repo id.
        repo: String,
        /// The error.
        reason: String,
    },
}

/// `[diffusion.NAME]` in the catalog.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiffusionEntry {
    /// Local diffusers directory (relative paths are relative to the working directory).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Hugging Face repo id.
    #[serde(default)]
    pub repo: Option<String>,
    /// Hub revision.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Shown to moderators.
    #[serde(default)]
    pub description: String,
    /// Denoising steps by default.
    #[serde(default = "default_steps")]
    pub steps: u32,
    /// Classifier-free guidance scale.
    #[serde(default = "default_guidance")]
    pub guidance_scale: f64,
    /// Default width (None: the model's native size).
    #[serde(default)]
    pub width: Option<u32>,
    /// Default height (None: the model's native size).
    #[serde(default)]
    pub height: Option<u32>,
    /// False hides the entry from servers.
    #[serde(default = "default_true")]
    pub available: bool,
    /// The most one render may take (seconds; None: `render.deadline_secs`). Past it the
    /// attempt fails as transient and counts.
    #[serde(default)]
    pub deadline_secs: Option<u64>,
    /// Another autoencoder to decode with: a local folder or a Hugging Face repo id holding
    /// `config.json` + `diffusion_pytorch_model.safetensors` (TAESD, `madebyollin/taesd`, for
    /// fast CPU decoding; the fp16-fix SDXL VAE for F16 on a GPU).
    #[serde(default)]
    pub vae: Option<String>,
    /// FLUX only: a transformer to run instead of the folder's `transformer/`: Black Forest
    /// Labs' single `.safetensors` file or a quantized `.gguf` (for smaller GPUs), as a local
    /// path or `REPO:FILE` on the Hugging Face hub (e.g.
    /// `city96/FLUX.1-schnell-gguf:flux1-schnell-Q4_K_S.gguf`).
    #[serde(default)]
    pub transformer: Option<String>,
}

fn default_revision() -> String {
    "main".to_owned()
}
fn default_steps() -> u32 {
    25
}
fn default_guidance() -> f64 {
    7.5
}
fn default_true() -> bool {
    true
}

/// `[llm.NAME]` in the catalog: a prompt-rewriting LLM servers can choose.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmEntry {
    /// `openai` (any OpenAI-compatible server), `local` (embedded GGUF) or `template` (no LLM).
    pub backend: String,
    /// Base URL of an OpenAI-compatible server (`openai`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Model name sent to the server (`openai`).
    #[serde(default)]
    pub model: Option<String>,
    /// `local`: a GGUF file on disk (wins over `repo`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `local`: a Hugging Face repo holding `file` (downloaded once, with a progress bar).
    #[serde(default)]
    pub repo: Option<String>,
    /// `local`: the GGUF file name inside `repo`.
    #[serde(default)]
    pub file: Option<String>,
    /// `local`: the repo revision.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Shown to moderators.
    #[serde(default)]
    pub description: String,
    /// False hides the entry from servers.
    #[serde(default = "default_true")]
    pub available: bool,
}

/// The catalog file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Diffusion models by name.
    #[serde(default)]
    pub diffusion: BTreeMap<String, DiffusionEntry>,
    /// Rewriting LLMs by name.
    #[serde(default)]
    pub llm: BTreeMap<String, LlmEntry>,
}

impl Catalog {
    /// Reads and checks a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Catalog {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let catalog: Catalog = figment::Figment::from(figment::providers::Toml::string(&text))
            .extract()
            .map_err(|e| ModelError::Catalog {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        for (name, entry) in &catalog.diffusion {
            if entry.path.is_none() && entry.repo.is_none() {
                return Err(ModelError::Catalog {
                    path: path.to_owned(),
                    reason: format!("diffusion.{name} needs `path` or `repo`"),
                });
            }
            if entry.steps == 0 {
                return Err(ModelError::Catalog {
                    path: path.to_owned(),
                    reason: format!("diffusion.{name}.steps must be greater than 0"),
                });
            }
        }
        for (name, entry) in &catalog.llm {
            if !["openai", "local", "template"].contains(&entry.backend.as_str()) {
                return Err(ModelError::Catalog {
                    path: path.to_owned(),
                    reason: format!("llm.{name}.backend must be openai, local or template"),
                });
            }
            if entry.backend == "local"
                && entry.path.is_none()
                && (entry.repo.is_none() || entry.file.is_none())
            {
                return Err(ModelError::Catalog {
                    path: path.to_owned(),
                    reason: format!("llm.{name} (local) needs `path`, or `repo` and `file`"),
                });
            }
            if entry.backend == "openai" && (entry.base_url.is_none() || entry.model.is_none()) {
                return Err(ModelError::Catalog {
                    path: path.to_owned(),
                    reason: format!("llm.{name} (openai) needs base_url and model"),
                });
            }
        }
        Ok(catalog)
    }

    /// Names of the LLMs servers may choose.
    pub fn available_llms(&self) -> impl Iterator<Item = &str> {
        self.llm
            .iter()
            .filter(|(_, e)| e.available)
            .map(|(n, _)| n.as_str())
    }

    /// The entry for `name`: a catalog name, or a local diffusers directory used as is.
    pub fn diffusion(&self, name: &str) -> Result<DiffusionEntry, ModelError> {
        if let Some(entry) = self.diffusion.get(name) {
            if !entry.available {
                return Err(ModelError::Unavailable(name.to_owned()));
            }
            return Ok(entry.clone());
        }
        let dir = Path::new(name);
        if dir.join("model_index.json").is_file() {
            return Ok(DiffusionEntry {
                path: Some(dir.to_owned()),
                repo: None,
                revision: default_revision(),
                description: String::new(),
                steps: default_steps(),
                guidance_scale: default_guidance(),
                width: None,
                height: None,
                available: true,
                deadline_secs: None,
                vae: None,
                transformer: None,
            });
        }
        Err(ModelError::Unknown(name.to_owned()))
    }

    /// Names of the entries servers may choose.
    pub fn available_diffusion(&self) -> impl Iterator<Item = &str> {
        self.diffusion
            .iter()
            .filter(|(_, e)| e.available)
            .map(|(n, _)| n.as_str())
    }
}

/// Returns a local directory holding the entry's files, downloading them first when needed.
///
/// Blocking (file checks, and the download runs on its own runtime); call it off the async runtime.
///
/// With `prefer_fp16` (a GPU worker) the UNet's and VAE's `.fp16.safetensors` files are fetched
/// where the repo has them (half the download; SDXL's F32 UNet alone is 10 GB).
pub fn ensure_local(entry: &DiffusionEntry, prefer_fp16: bool) -> Result<PathBuf, ModelError> {
    if let Some(dir) = &entry.path {
        if entry.repo.is_none() || dir.join("model_index.json").is_file() {
            check_model_dir(dir, entry.transformer.is_some())?;
            return Ok(dir.clone());
        }
    }
    let repo = entry
        .repo
        .as_deref()
        .ok_or_else(|| ModelError::Unknown(String::new()))?;
    download_diffusers(
        repo,
        &entry.revision,
        prefer_fp16,
        entry.transformer.is_some(),
    )
}

/// The local file of an entry's `transformer` (None when it has none): the file itself, or
/// `REPO:FILE` downloaded once into the Hugging Face cache, with a progress bar. Blocking.
pub fn ensure_transformer_local(entry: &DiffusionEntry) -> Result<Option<PathBuf>, ModelError> {
    let Some(spec) = entry.transformer.as_deref() else {
        return Ok(None);
    };
    let path = Path::new(spec);
    if path.is_file() {
        return Ok(Some(path.to_owned()));
    }
    match spec.split_once(':') {
        Some((repo, file)) if repo.split('/').count() == 2 && !repo.starts_with(['.', '/']) => {
            let hub = hub_repo(repo, "main")?;
            fetch(&hub, repo, file).map(Some)
        }
        _ => Err(missing_file(path)),
    }
}

/// The local folder of an entry's `vae` (None when it has none): the folder itself, or a
/// Hugging Face repo whose `config.json` and `diffusion_pytorch_model.safetensors` are
/// downloaded once into the Hugging Face cache, with a progress bar. Blocking.
pub fn ensure_vae_local(entry: &DiffusionEntry) -> Result<Option<PathBuf>, ModelError> {
    let Some(vae) = entry.vae.as_deref() else {
        return Ok(None);
    };
    let path = Path::new(vae);
    if path.is_dir() {
        for file in VAE_FILES {
            if !path.join(file).is_file() {
                return Err(ModelError::MissingFile {
                    dir: path.to_owned(),
                    file: (*file).to_owned(),
                });
            }
        }
        return Ok(Some(path.to_owned()));
    }
    if vae.split('/').count() != 2 || vae.starts_with(['.', '/']) {
        return Err(ModelError::MissingFile {
            dir: path.to_owned(),
            file: "config.json".to_owned(),
        });
    }
    let hub = hub_repo(vae, "main")?;
    let mut config = None;
    for file in VAE_FILES {
        let local = fetch(&hub, vae, file)?;
        if *file == "config.json" {
            config = Some(local);
        }
    }
    Ok(config.and_then(|c| c.parent().map(Path::to_owned)))
}

/// The files of a standalone autoencoder folder.
const VAE_FILES: &[&str] = &["config.json", "diffusion_pytorch_model.safetensors"];

/// Returns the local GGUF file of a `local` LLM entry, downloading it first when needed.
///
/// Blocking; call it off the async runtime.
pub fn ensure_local_gguf(entry: &LlmEntry) -> Result<PathBuf, ModelError> {
    if let Some(path) = &entry.path {
        if entry.repo.is_none() || path.is_file() {
            if !path.is_file() {
                return Err(missing_file(path));
            }
            return Ok(path.clone());
        }
    }
    let (Some(repo), Some(file)) = (entry.repo.as_deref(), entry.file.as_deref()) else {
        return Err(ModelError::Unknown(String::new()));
    };
    let err = |reason: String| ModelError::Download {
        repo: repo.to_owned(),
        reason,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| err(e.to_string()))?;
    tracing::info!(
        repo,
        file,
        "fetching GGUF model (cached after the first time)"
    );
    api.repo(hf_hub::Repo::with_revision(
        repo.to_owned(),
        hf_hub::RepoType::Model,
        entry.revision.clone(),
    ))
    .get(file)
    .map_err(|e| err(format!("{file}: {e}")))
}

/// A missing file, as its folder and name.
fn missing_file(path: &Path) -> ModelError {
    ModelError::MissingFile {
        dir: path.parent().map(Path::to_owned).unwrap_or_default(),
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Checks that `dir` holds every diffusers file its pipeline reads (Stable Diffusion's or, when
/// `model_index.json` names `FluxPipeline`, FLUX's; `transformer/` not when `own_transformer`,
/// the entry's `transformer` file replacing it).
pub fn check_model_dir(dir: &Path, own_transformer: bool) -> Result<(), ModelError> {
    let flux = std::fs::read_to_string(dir.join("model_index.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["_class_name"].as_str().map(|c| c.starts_with("Flux")))
        .unwrap_or(false);
    let files = if flux { FLUX_FILES } else { DIFFUSERS_FILES };
    for file in files {
        if own_transformer && file.starts_with("transformer/") {
            continue;
        }
        let sharded = file
            .strip_suffix(".safetensors")
            .map(|stem| dir.join(format!("{stem}.safetensors.index.json")));
        if !dir.join(file).is_file() && !sharded.is_some_and(|i| i.is_file()) {
            return Err(ModelError::MissingFile {
                dir: dir.to_owned(),
                file: (*file).to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalog_parses() {
        let catalog = Catalog::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/models.toml"
        )))
        .expect("config/models.toml parses");
        assert!(catalog.diffusion.contains_key("sd15"));
        assert!(catalog.available_diffusion().count() >= 2);
        assert!(catalog.available_llms().any(|n| n == "template"));
    }

    #[test]
    fn catalog_errors_name_the_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("models.toml");
        std::fs::write(&file, "[diffusion.broken]\ndescription = \"x\"\n").expect("write");
        let err = Catalog::load(&file).unwrap_err().to_string();
        assert!(err.contains("diffusion.broken"), "{err}");
    }

    #[test]
    fn unknown_and_unavailable_models() {
        let mut catalog = Catalog::default();
        assert!(matches!(
            catalog.diffusion("nope"),
            Err(ModelError::Unknown(_))
        ));
        catalog.diffusion.insert(
            "hidden".to_owned(),
            DiffusionEntry {
                path: Some(PathBuf::from("/nonexistent")),
                repo: None,
                revision: default_revision(),
                description: String::new(),
                steps: 4,
                guidance_scale: 1.0,
                width: None,
                height: None,
                available: false,
                deadline_secs: None,
                vae: None,
                transformer: None,
            },
        );
        assert!(matches!(
            catalog.diffusion("hidden"),
            Err(ModelError::Unavailable(_))
        ));
    }

    #[test]
    fn local_directory_missing_a_file_is_reported_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("model_index.json"), "{}").expect("write");
        let catalog = Catalog::default();
        let entry = catalog
            .diffusion(dir.path().to_str().expect("utf8"))
            .expect("a directory with model_index.json is a model");
        let err = ensure_local(&entry, false).unwrap_err().to_string();
        assert!(err.contains("scheduler/scheduler_config.json"), "{err}");
    }

    /// A FLUX folder is checked against FLUX's files: sharded weights count through their
    /// index, and an entry's own transformer file stands in for `transformer/`.
    #[test]
    fn flux_folders_are_checked_for_their_own_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("model_index.json"),
            r#"{"_class_name": "FluxPipeline"}"#,
        )
        .expect("write");
        for file in FLUX_FILES.iter().filter(|f| **f != "model_index.json") {
            let path = d.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let sharded = *file == "text_encoder_2/model.safetensors";
            let path = if sharded {
                d.join("text_encoder_2/model.safetensors.index.json")
            } else {
                path
            };
            std::fs::write(path, "{}").expect("write");
        }
        check_model_dir(d, false).expect("complete, T5 sharded");
        std::fs::remove_file(d.join("tokenizer_2/tokenizer.json")).expect("rm");
        let err = check_model_dir(d, false).unwrap_err().to_string();
        assert!(err.contains("tokenizer_2/tokenizer.json"), "{err}");
        std::fs::write(d.join("tokenizer_2/tokenizer.json"), "{}").expect("write");
        std::fs::remove_dir_all(d.join("transformer")).expect("rm");
        assert!(check_model_dir(d, false).is_err());
        check_model_dir(d, true).expect("the entry's transformer file replaces the folder");
    }
}
