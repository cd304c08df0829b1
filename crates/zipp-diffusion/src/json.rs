//! [`JsonConfig`]: typed access to a diffusers/transformers JSON config file,
//! with errors that name the file and key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{DiffusionError, Result};

// ---------------------------------------------------------------------------
// JSON config access

/// A parsed JSON object plus its path, so every error can name file and key.
pub(super) struct JsonConfig {
    file: PathBuf,
    map: Map<String, Value>,
}

impl JsonConfig {
    /// Reads and parses `path`; a missing file is [`DiffusionError::MissingFile`].
    pub(super) fn read(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(DiffusionError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| DiffusionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| DiffusionError::BadConfig {
            file: path.to_path_buf(),
            reason: format!("invalid JSON: {e}"),
        })?;
        match value {
            Value::Object(map) => Ok(Self {
                file: path.to_path_buf(),
                map,
            }),
            _ => Err(DiffusionError::BadConfig {
                file: path.to_path_buf(),
                reason: "top level is not a JSON object".to_string(),
            }),
        }
    }

    pub(super) fn bad(&self, key: &str, reason: &str) -> DiffusionError {
        DiffusionError::BadConfig {
            file: self.file.clone(),
            reason: format!("key `{key}`: {reason}"),
        }
    }

    pub(super) fn unsupported(&self, reason: String) -> DiffusionError {
        DiffusionError::Unsupported {
            file: self.file.clone(),
            reason,
        }
    }

    /// The value of `key`; JSON `null` counts as absent (diffusers writes
    /// unset options as null).
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn value_usize(&self, key: &str, v: &Value) -> Result<usize> {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.bad(key, &format!("expected a non-negative integer, got {v}")))
    }

    pub(super) fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        self.get(key)
            .map_or(Ok(default), |v| self.value_usize(key, v))
    }

    pub(super) fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| self.bad(key, &format!("expected a number, got {v}"))),
        }
    }

    pub(super) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.bad(key, &format!("expected true or false, got {v}"))),
        }
    }

    pub(super) fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, &format!("expected a string, got {v}"))),
        }
    }

    pub(super) fn str_or(&self, key: &str, default: &str) -> Result<String> {
        Ok(self.opt_str(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub(super) fn list<'a>(&'a self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.bad(key, &format!("expected a list, got {v}"))),
        }
    }

    pub(super) fn usize_list_or(&self, key: &str, default: &[usize]) -> Result<Vec<usize>> {
        match self.list(key)? {
            None => Ok(default.to_vec()),
            Some(a) => a.iter().map(|v| self.value_usize(key, v)).collect(),
        }
    }

    pub(super) fn f64_list(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.list(key)? {
            None => Ok(None),
            Some(a) => a
                .iter()
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| self.bad(key, &format!("expected numbers, got {v}")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
        }
    }

    pub(super) fn str_list_or(&self, key: &str, default: &[&str]) -> Result<Vec<String>> {
        match self.list(key)? {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.bad(key, &format!("expected strings, got {v}")))
                })
                .collect(),
        }
    }

    /// A per-block integer that diffusers accepts either as one int or as a
    /// list with one entry per block.
    pub(super) fn usize_per_block(
        &self,
        key: &str,
        n: usize,
        default: usize,
    ) -> Result<Vec<usize>> {
        match self.get(key) {
            None => Ok(vec![default; n]),
            Some(Value::Array(a)) => {
                if a.len() != n {
                    return Err(self.bad(
                        key,
                        &format!("has {} entries but there are {n} blocks", a.len()),
                    ));
                }
                a.iter().map(|v| self.value_usize(key, v)).collect()
            }
            Some(v) => Ok(vec![self.value_usize(key, v)?; n]),
        }
    }

    /// Like [`Self::usize_per_block`] but candle needs one value for all blocks.
    pub(super) fn usize_uniform(&self, key: &str, n: usize, default: usize) -> Result<usize> {
        let v = self.usize_per_block(key, n, default)?;
        match v.first() {
            Some(&first) if v.iter().all(|&x| x == first) => Ok(first),
            Some(_) => Err(self.unsupported(format!(
                "`{key}` differs between blocks ({v:?}); candle needs one value"
            ))),
            None => Ok(default),
        }
    }

    /// Errors with [`DiffusionError::Unsupported`] if a string option is set
    /// to anything but `expected`.
    pub(super) fn require_str(&self, key: &str, expected: &str) -> Result<()> {
        match self.opt_str(key)? {
            Some(v) if v != expected => {
                Err(self.unsupported(format!("`{key}` is {v:?}; only {expected:?} is supported")))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn require_absent(&self, keys: &[&str], what: &str) -> Result<()> {
        for key in keys {
            if let Some(v) = self.get(key) {
                return Err(self.unsupported(format!("`{key}` is set ({v}); {what}")));
            }
        }
        Ok(())
    }
}
