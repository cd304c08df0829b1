//! zipp's persona encoder: a PyTorch Geometric-compatible graph attention library, with no
//! Discord, database or async runtime in it.
//!
//! From the bottom up (each module uses only those above it in this list):
//! - [`graph`] — the typed interaction graph (member/channel/role nodes; posted, reacted,
//!   replied, has-role edges and their features), its JSON files ([`graph::io`]) and the
//!   synthetic community with planted tastes ([`graph::synth`]).
//! - [`edge_index`] — [`edge_index::EdgeIndex`]: PyTorch Geometric's edge conventions (self
//!   loops replaced, attention reported in PyG's edge order, `fill_value='mean'` loop
//!   features) compiled once into CSR (by target) and CSC (by source) arrays.
//! - [`kernels`] — fused CPU message passing (attention, per-target softmax, aggregation, the
//!   whole GATConv step) and the dense pieces of a training step, each with an exact
//!   backward, plus the composed-ops reference that tests compare against and that other
//!   devices (CUDA) fall back to.
//! - [`gat`] — `GATConv` and edge-aware `GATv2Conv` with PyG's math and parameter names, so a
//!   PyG `state_dict` saved as safetensors loads directly, and configurations inferred from
//!   the tensors.
//! - [`model`] — the two-layer encoder (`conv1 → ELU → conv2`) loaded from a PyG state dict.
//! - [`encoder`] — the persona model: typed input projections, two edge-aware GATv2 layers and
//!   the ImageAlign head.
//! - [`sample`], [`train`], [`progress`] — link prediction + ImageAlign training (full batch or
//!   neighbour-sampled mini-batches, early stopping, seeded).
//! - [`checkpoint`] — the encoder's checkpoint (safetensors + metadata), checked on load and
//!   written atomically.
//! - [`infer`] — embeddings and the attention-ranked evidence of every member.
//! - [`metrics`], [`eval`] — the ablation table against baselines on planted truth.

pub mod checkpoint;
pub mod edge_index;
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
mod params;
pub mod progress;
pub mod sample;
pub mod train;
