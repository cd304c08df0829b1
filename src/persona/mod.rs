//! The persona encoder: graph attention over the member/interaction graph, producing one
//! embedding per member that the prompt rewriter conditions on.
//!
//! This part owns the layers and their kernels:
//! - [`graph`] — [`graph::EdgeIndex`]: PyTorch Geometric's edge conventions (self loops
//!   replaced, attention reported in PyG's edge order, `fill_value='mean'` loop features)
//!   compiled once into CSR (by target) and CSC (by source) arrays.
//! - [`kernels`] — fused CPU message passing (attention, per-target softmax, aggregation, the
//!   whole GATConv step) and the dense pieces of a training step, each with an exact
//!   backward, plus the composed-ops reference that tests compare against and that other
//!   devices (CUDA) fall back to.
//! - [`gat`] — `GATConv` and edge-aware `GATv2Conv` with PyG's math and parameter names, so a
//!   PyG `state_dict` saved as safetensors loads directly, and configurations inferred from
//!   the tensors.
//! - [`model`] — the two-layer encoder (`conv1 → ELU → conv2`) and checkpoint loading; a
//!   private `checkpoint` module turns malformed parameters into errors naming the tensor.

pub mod checkpoint;
pub mod encoder;
pub mod eval;
#[cfg(test)]
mod fixtures;
pub mod gat;
pub mod graph;
pub mod infer;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod progress;
pub mod sample;
pub mod train;
pub mod verbalize;
