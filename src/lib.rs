//! zipp: a Discord bot that makes `/imagine` personal (the ZIPP method: an LLM rewrites the
//! prompt from the member's persona; a frozen diffusion model renders it).
//!
//! The binary (`src/main.rs`) is thin; the bot lives here and composes the engine crates
//! (`zipp-gat`, `zipp-llm`, `zipp-diffusion`, `zipp-clip`). Modules by layer, top first; each
//! uses only the layers below it (ARCHITECTURE.md; `tests/e2e/architecture.rs` keeps it so):
//! - [`app`] — wiring and clean shutdown.
//! - [`discord`] — the only module that knows serenity/poise: commands, events, delivery.
//! - [`imagine`], [`ingest`], [`render`], [`lifecycle`] — `/imagine`'s core, consent-gated
//!   ingestion, the render worker, persona inference in the bot.
//! - [`rewrite`], [`verbalize`] — the ZIPP rewrite and the persona verbalizer.
//! - [`store`] — the only module with SQL.
//! - [`error`], [`models`], [`upload`], [`i18n`], [`config`] — user-facing errors, the model
//!   catalog, uploaded images, texts, configuration.
//! - [`domain`] — jobs, personas and graph records, free of Discord and SQL.
//! - [`ids`], [`text`], [`http_client`], [`llm`] — ids, member text cleaning, HTTP endpoint
//!   facts, the chat-model seam.

pub mod app;
pub mod config;
pub mod consent;
pub mod discord;
pub mod domain;
pub mod error;
pub mod http_client;
pub mod i18n;
pub mod ids;
pub mod imagine;
pub mod ingest;
pub mod lifecycle;
pub mod llm;
pub mod models;
pub mod observe;
pub mod render;
pub mod rewrite;
pub mod store;
pub mod sweep;
pub mod text;
pub mod upload;
pub mod verbalize;
