//! Graph files: `graph.json` (a [`Graph`]) and, for a synthetic community, `truth.json` (its
//! [`GroundTruth`]), written by `zipp graph synth|export` and read by `zipp train|infer|eval`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::synth::GroundTruth;
use super::Graph;

/// File name of the graph written by [`save`].
pub const GRAPH_FILE: &str = "graph.json";
/// File name of the ground truth written by [`save`].
pub const TRUTH_FILE: &str = "truth.json";

/// Errors from [`save`] and [`load`]; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum GraphIoError {
    /// Reading, creating or writing a file failed.
    #[error("graph file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON of the expected shape.
    #[error("graph file {path} is not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `graph.json` and `truth.json` into `dir` (created if missing).
pub fn save(dir: &Path, graph: &Graph, truth: &GroundTruth) -> Result<(), GraphIoError> {
    std::fs::create_dir_all(dir).map_err(|source| GraphIoError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_json(&dir.join(GRAPH_FILE), graph)?;
    write_json(&dir.join(TRUTH_FILE), truth)
}

/// Writes only `graph.json` into `dir` (created if missing): a graph without planted truth,
/// e.g. a server's snapshot from `zipp graph export`.
pub fn save_graph(dir: &Path, graph: &Graph) -> Result<(), GraphIoError> {
    std::fs::create_dir_all(dir).map_err(|source| GraphIoError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_json(&dir.join(GRAPH_FILE), graph)
}

/// Reads `graph.json` and `truth.json` from `dir`.
pub fn load(dir: &Path) -> Result<(Graph, GroundTruth), GraphIoError> {
    Ok((
        read_json(&dir.join(GRAPH_FILE))?,
        read_json(&dir.join(TRUTH_FILE))?,
    ))
}

/// Reads only `graph.json` from `dir` (a graph without planted truth, e.g. for inference).
pub fn load_graph(dir: &Path) -> Result<Graph, GraphIoError> {
    read_json(&dir.join(GRAPH_FILE))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), GraphIoError> {
    let io = |source| GraphIoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    serde_json::to_writer(&mut w, value).map_err(|source| GraphIoError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    // Flush explicitly: BufWriter's drop would swallow a late write error.
    w.flush().map_err(io)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, GraphIoError> {
    let file = File::open(path).map_err(|source| GraphIoError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_reader(BufReader::new(file)).map_err(|source| GraphIoError::Json {
        path: path.to_path_buf(),
        source,
    })
}
