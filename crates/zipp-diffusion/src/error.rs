//! [`DiffusionError`]: everything that can go wrong while loading a model or
//! generating an image, naming the file, key or tensor where there is one.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or generating an image.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// A required file of the model directory does not exist.
    #[error("missing model file {path}")]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A JSON config file is malformed or has an invalid value.
    #[error("bad config {file}: {reason}")]
    BadConfig {
        /// The config file.
        file: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The model is valid but uses an architecture this pipeline cannot run.
    #[error("unsupported model ({file}): {reason}")]
    Unsupported {
        /// The file that revealed it.
        file: PathBuf,
        /// Which feature is unsupported.
        reason: String,
    },
    /// A tensor the architecture needs is absent from a weights file.
    #[error("tensor `{tensor}` is missing from {file}")]
    MissingTensor {
        /// The weights file.
        file: PathBuf,
        /// The tensor name.
        tensor: String,
    },
    /// A weights file could not be read or does not fit the config (wrong
    /// shape, corrupt safetensors header, ...). The message names the tensor
    /// where candle reports one.
    #[error("cannot load weights from {file}: {source}")]
    Weights {
        /// The weights file.
        file: PathBuf,
        /// The underlying candle error.
        source: candle_core::Error,
    },
    /// A file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The tokenizer could not be built or failed to encode a prompt.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The requested compute device is not available in this build or machine.
    #[error("device unavailable: {0}")]
    Device(String),
    /// A tensor operation failed while generating.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The generation parameters are out of range.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// [`DiffusionModel::generate_cancellable`]'s callback asked to stop.
    #[error("generation cancelled after {done} of {total} steps")]
    Cancelled {
        /// Steps completed before stopping.
        done: u32,
        /// Steps requested.
        total: u32,
    },
}
