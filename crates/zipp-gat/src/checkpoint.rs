//! Persona encoder checkpoints. Their tensors pass the checks of [`crate::params`], so a
//! malformed file is reported as an error naming the tensor instead of a panic or silently
//! wrong embeddings.
//!
//! A checkpoint is a folder with two files:
//! - [`WEIGHTS_FILE`] (`persona.safetensors`): the parameters under PyG-style names
//!   (`lin_member.weight`, `conv1.lin_l.weight`, `conv1.att`, `conv2.lin_edge.weight`,
//!   `align.bias`, …), f32;
//! - [`META_FILE`] (`persona.json`): [`CheckpointMeta`] — format version, encoder config,
//!   the feature schema the inputs must follow, training config and report (losses,
//!   validation AUC, per-epoch history), data statistics, seed and time.
//!
//! [`load`] checks the metadata against this build (format version, feature schema) and every
//! tensor against the configuration (present, floating point, exact shape, finite, nothing
//! unexpected) before building the encoder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::encoder::{PersonaEncoder, PersonaEncoderConfig};
use super::train::{TrainConfig, TrainReport};
use crate::graph::{Graph, EDGE_FEATURE_DIM};
use crate::params::first_non_finite;

/// File name of a persona checkpoint's weights.
pub const WEIGHTS_FILE: &str = "persona.safetensors";
/// File name of a persona checkpoint's metadata.
pub const META_FILE: &str = "persona.json";
/// Version of the checkpoint layout [`save`] writes and [`load`] reads.
pub const FORMAT_VERSION: u32 = 1;

/// How the encoder's inputs are built from a [`Graph`]; a checkpoint is only valid for inputs
/// built the same way, so [`load`] compares the stored schema with [`FeatureSchema::current`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// Node types in the order the encoder stacks them.
    pub node_order: Vec<String>,
    /// Member input.
    pub member_input: String,
    /// Size of image embeddings.
    pub image_dim: usize,
    /// Channel and role input.
    pub text_input: String,
    /// Size of the text feature.
    pub text_dim: usize,
    /// Edge features, in column order.
    pub edge_features: Vec<String>,
    /// How graph edges become message-passing edges.
    pub message_passing: String,
}

impl FeatureSchema {
    /// The schema of this build for an encoder with `cfg`.
    pub fn current(cfg: &PersonaEncoderConfig) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Self {
            node_order: strings(&["member", "channel", "role"]),
            member_input: "mean image embedding; zeros without images".into(),
            image_dim: cfg.image_dim,
            text_input: match cfg.text_features {
                super::encoder::TextFeatures::HashedBow => {
                    "hashed bag of words (FNV-1a, signed, L2-normalised) of name and topic".into()
                }
                super::encoder::TextFeatures::Clip => {
                    "CLIP text embedding (unit norm) of name and topic".into()
                }
            },
            text_dim: cfg.text_dim,
            edge_features: strings(&[
                "posted",
                "reacted",
                "replied",
                "has_role",
                "ln(1+count)",
                "exp(-days/30)",
            ]),
            message_passing: "every edge in both directions; self loops with mean features".into(),
        }
    }
}

/// Size of the data a checkpoint was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataStats {
    /// Members.
    pub members: usize,
    /// Channels.
    pub channels: usize,
    /// Roles.
    pub roles: usize,
    /// Edges.
    pub edges: usize,
    /// Image engagements.
    pub images: usize,
    /// Members without images.
    pub members_without_images: usize,
    /// Where the graph came from (a folder).
    pub source: String,
}

impl DataStats {
    /// Counts `graph`'s parts.
    pub fn of(graph: &Graph, source: &str) -> Self {
        let mut with_images = vec![false; graph.members.len()];
        for img in &graph.images {
            if let Some(w) = with_images.get_mut(img.member as usize) {
                *w = true;
            }
        }
        Self {
            members: graph.members.len(),
            channels: graph.channels.len(),
            roles: graph.roles.len(),
            edges: graph.edges.len(),
            images: graph.images.len(),
            members_without_images: with_images.iter().filter(|&&w| !w).count(),
            source: source.to_string(),
        }
    }
}

/// Everything [`META_FILE`] holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The encoder's hyper-parameters.
    pub encoder: PersonaEncoderConfig,
    /// How inputs must be built.
    pub features: FeatureSchema,
    /// Training hyper-parameters (the seed is `training.seed`).
    pub training: TrainConfig,
    /// What training achieved.
    pub report: TrainReport,
    /// The training data's size.
    pub data: DataStats,
    /// When training finished, milliseconds since the Unix epoch.
    pub trained_at_unix_ms: u64,
}

impl CheckpointMeta {
    /// Metadata for a run that just finished (time stamped now).
    pub fn new(
        encoder: PersonaEncoderConfig,
        training: TrainConfig,
        report: TrainReport,
        data: DataStats,
    ) -> Self {
        let trained_at_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            format_version: FORMAT_VERSION,
            features: FeatureSchema::current(&encoder),
            encoder,
            training,
            report,
            data,
            trained_at_unix_ms,
        }
    }

    /// Whether the ImageAlign head was trained (a weight above zero, on images): only then does
    /// its projection (`infer::Inference::aligned`) place members among images.
    pub fn places_members_among_images(&self) -> bool {
        self.training.lambda_align > 0.0 && self.data.images > 0
    }
}

/// Why a persona checkpoint cannot be written or used; each names the file or the tensor.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be read, written or created.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata file is not valid JSON of the expected shape.
    #[error("checkpoint metadata {path} is not valid: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The weights file is not a readable safetensors file.
    #[error("checkpoint weights {path} cannot be read: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What candle reported.
        message: String,
    },
    /// The checkpoint was written by an incompatible version.
    #[error("checkpoint {path} has format version {found}, this build reads {FORMAT_VERSION}")]
    Version {
        /// The metadata file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// The checkpoint expects inputs built differently from this build.
    #[error("checkpoint {path} was trained on other input features ({field}: {found}; this build: {expected})")]
    Features {
        /// The metadata file.
        path: PathBuf,
        /// The schema field that differs.
        field: String,
        /// The stored value.
        found: String,
        /// This build's value.
        expected: String,
    },
    /// A parameter is missing.
    #[error("checkpoint {path}: missing tensor {name}")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The parameter.
        name: String,
    },
    /// A tensor that this encoder configuration does not have.
    #[error("checkpoint {path}: unexpected tensor {name} (not a parameter of this encoder configuration)")]
    UnexpectedTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A parameter has the wrong shape.
    #[error("checkpoint {path}: tensor {name} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The weights file.
        path: PathBuf,
        /// The parameter.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The configuration's shape.
        expected: Vec<usize>,
    },
    /// A parameter is not floating point.
    #[error(
        "checkpoint {path}: tensor {name} has dtype {found:?}, expected a floating-point type"
    )]
    Dtype {
        /// The weights file.
        path: PathBuf,
        /// The parameter.
        name: String,
        /// Its dtype.
        found: DType,
    },
    /// A parameter holds NaN or an infinity.
    #[error(
        "checkpoint {path}: tensor {name} holds a non-finite value ({value}) at flat index {index}"
    )]
    NonFinite {
        /// The weights file.
        path: PathBuf,
        /// The parameter.
        name: String,
        /// Flat index of the first bad value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Building the encoder or reading a tensor failed.
    #[error("checkpoint {path}: {source}")]
    Model {
        /// The weights file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: candle_core::Error,
    },
}

/// Writes `varmap`'s parameters and `meta` into `dir` (created if missing).
pub fn save(
    dir: &Path,
    varmap: &VarMap,
    meta: &CheckpointMeta,
) -> std::result::Result<(), CheckpointError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Each file is written beside its final name and renamed into place, weights first: a
    // running bot that watches the metadata file never reads a half-written checkpoint.
    let weights = dir.join(WEIGHTS_FILE);
    let weights_tmp = dir.join(format!("{WEIGHTS_FILE}.partial"));
    varmap
        .save(&weights_tmp)
        .map_err(|e| CheckpointError::Safetensors {
            path: weights_tmp.clone(),
            message: e.to_string(),
        })?;
    std::fs::rename(&weights_tmp, &weights).map_err(io(&weights))?;
    let meta_path = dir.join(META_FILE);
    let json = serde_json::to_string_pretty(meta).map_err(|source| CheckpointError::Json {
        path: meta_path.clone(),
        source,
    })?;
    let meta_tmp = dir.join(format!("{META_FILE}.partial"));
    std::fs::write(&meta_tmp, json).map_err(io(&meta_tmp))?;
    std::fs::rename(&meta_tmp, &meta_path).map_err(io(&meta_path))
}

/// Reads the checkpoint in `dir`, checks it (see the module docs) and builds the encoder on
/// `device`.
pub fn load(
    dir: &Path,
    device: &Device,
) -> std::result::Result<(PersonaEncoder, CheckpointMeta), CheckpointError> {
    let meta_path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&meta_path).map_err(|source| CheckpointError::Io {
        path: meta_path.clone(),
        source,
    })?;
    let meta: CheckpointMeta =
        serde_json::from_str(&text).map_err(|source| CheckpointError::Json {
            path: meta_path.clone(),
            source,
        })?;
    check_meta(&meta, &meta_path)?;
    let weights = dir.join(WEIGHTS_FILE);
    if let Err(source) = std::fs::metadata(&weights) {
        return Err(CheckpointError::Io {
            path: weights,
            source,
        });
    }
    let tensors = candle_core::safetensors::load(&weights, &Device::Cpu).map_err(|e| {
        CheckpointError::Safetensors {
            path: weights.clone(),
            message: e.to_string(),
        }
    })?;
    let model = encoder_from_tensors(&meta.encoder, tensors, device, &weights)?;
    Ok((model, meta))
}

/// Checks the metadata's version and feature schema against this build.
fn check_meta(meta: &CheckpointMeta, path: &Path) -> std::result::Result<(), CheckpointError> {
    if meta.format_version != FORMAT_VERSION {
        return Err(CheckpointError::Version {
            path: path.to_path_buf(),
            found: meta.format_version,
        });
    }
    let expected = FeatureSchema::current(&meta.encoder);
    let found = &meta.features;
    let differs = |field: &str, f: String, e: String| {
        (f != e).then(|| CheckpointError::Features {
            path: path.to_path_buf(),
            field: field.to_string(),
            found: f,
            expected: e,
        })
    };
    let checks = [
        differs(
            "node_order",
            found.node_order.join(","),
            expected.node_order.join(","),
        ),
        differs(
            "member_input",
            found.member_input.clone(),
            expected.member_input.clone(),
        ),
        differs(
            "image_dim",
            found.image_dim.to_string(),
            expected.image_dim.to_string(),
        ),
        differs(
            "text_input",
            found.text_input.clone(),
            expected.text_input.clone(),
        ),
        differs(
            "text_dim",
            found.text_dim.to_string(),
            expected.text_dim.to_string(),
        ),
        differs(
            "edge_features",
            found.edge_features.join(","),
            expected.edge_features.join(","),
        ),
        differs(
            "message_passing",
            found.message_passing.clone(),
            expected.message_passing.clone(),
        ),
        differs(
            "encoder.edge_dim",
            meta.encoder.edge_dim.to_string(),
            EDGE_FEATURE_DIM.to_string(),
        ),
    ];
    match checks.into_iter().flatten().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The parameter names and shapes of an encoder with `cfg`, sorted by name.
fn expected_parameters(cfg: &PersonaEncoderConfig) -> Result<BTreeMap<String, Vec<usize>>> {
    let varmap = VarMap::new();
    PersonaEncoder::new(
        cfg.clone(),
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
    Ok(data
        .iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect())
}

/// Checks `tensors` against an encoder with `cfg` (every parameter present, floating point,
/// the right shape, finite; no other tensors) and builds the encoder on `device` in f32.
/// `path` names the file in errors.
pub fn encoder_from_tensors(
    cfg: &PersonaEncoderConfig,
    tensors: HashMap<String, Tensor>,
    device: &Device,
    path: &Path,
) -> std::result::Result<PersonaEncoder, CheckpointError> {
    let model_err = |source| CheckpointError::Model {
        path: path.to_path_buf(),
        source,
    };
    let expected = expected_parameters(cfg).map_err(model_err)?;
    for (name, shape) in &expected {
        let Some(t) = tensors.get(name) else {
            return Err(CheckpointError::MissingTensor {
                path: path.to_path_buf(),
                name: name.clone(),
            });
        };
        if !matches!(
            t.dtype(),
            DType::F16 | DType::BF16 | DType::F32 | DType::F64
        ) {
            return Err(CheckpointError::Dtype {
                path: path.to_path_buf(),
                name: name.clone(),
                found: t.dtype(),
            });
        }
        if t.dims() != shape.as_slice() {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name: name.clone(),
                found: t.dims().to_vec(),
                expected: shape.clone(),
            });
        }
        if let Some((index, value)) = first_non_finite(t).map_err(model_err)? {
            return Err(CheckpointError::NonFinite {
                path: path.to_path_buf(),
                name: name.clone(),
                index,
                value,
            });
        }
    }
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    if let Some(name) = names.into_iter().find(|n| !expected.contains_key(*n)) {
        return Err(CheckpointError::UnexpectedTensor {
            path: path.to_path_buf(),
            name: name.clone(),
        });
    }
    PersonaEncoder::new(
        cfg.clone(),
        VarBuilder::from_tensors(tensors, DType::F32, device),
    )
    .map_err(model_err)
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
