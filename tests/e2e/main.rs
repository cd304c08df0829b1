//! End-to-end tests: the real bot (serenity + poise) against a fake Discord on 127.0.0.1, the
//! real store on SQLite and PostgreSQL, the real candle pipeline on a tiny generated model.
//! One test binary with modules builds faster than many.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers fail loudly and print what they measured"
)]

#[macro_use]
mod harness;

mod architecture;
mod bad_input;
mod batch;

mod cli;
mod compare;
mod config_cmd;
mod consent_races;
mod deploy;
mod durability;
mod duties;
mod erasure;
mod flux;
mod grid;
mod imagine;
mod ingest;
mod limits;
mod llamacpp;
mod local_llm;
mod observe;
mod persona;
mod preview;
mod public_safety;
mod queue;
mod retention;
mod rewrite;
mod surface;
mod variations;
