//! zipp: a Discord bot that makes `/imagine` personal (the ZIPP method: an LLM rewrites the
//! prompt from the member's persona; a frozen diffusion model renders it).
//!
//! The binary (`src/main.rs`) is thin; everything lives here. See ARCHITECTURE.md for the map.
//! Module boundaries:
//! - [`discord`] — the only module that knows serenity/poise.
//! - [`store`] — the only module with SQL.
//! - [`render`] — the job queue's workers and the diffusion pipeline (off the async runtime).
//! - [`rewrite`] — the prompt-rewrite seam and the ZIPP rewrite parts.
//! - [`ingest`] — consenting members' gateway events aggregated into graph edges, flushed in batches.
//! - [`graph`] — the interaction graph's types and the synthetic community with planted tastes.
//! - [`persona`] — the persona encoder: PyG-compatible graph attention layers with fused CPU kernels.
//! - [`config`], [`models`], [`i18n`], [`ids`], [`error`], [`imagine`] — shared core.

pub mod app;
pub mod clip;
pub mod config;
pub mod discord;
pub mod error;
pub mod graph;
pub mod i18n;
pub mod ids;
pub mod imagine;
pub mod ingest;
pub mod lifecycle;
pub mod models;
pub mod persona;
pub mod render;
pub mod rewrite;
pub mod store;
pub mod upload;
