//! Checks our Stable Diffusion pipeline against a diffusers parity fixture.
//!
//! ```sh
//! cargo run --release --example sd_parity -- tests/fixtures/sd/sdxl-euler [MORE_DIRS...]
//! ```
//!
//! Each DIR is a fixture made by `tests/fixtures/sd/make_sd_fixture.py`
//! (`model/`, `parity.json`, `parity.safetensors`). `model/` is loaded through
//! zipp's normal loader; the largest difference per stage is printed, and the
//! exit status is 1 when any stage is beyond the fixtures' README tolerances
//! (2 when a fixture cannot be read at all).

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI report

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: sd_parity FIXTURE_DIR [FIXTURE_DIR...]");
        return ExitCode::from(2);
    }
    let mut code = ExitCode::SUCCESS;
    for dir in dirs {
        match zipp_diffusion::parity::check(&dir) {
            Ok(report) => {
                println!("{report}");
                if !report.passed() {
                    code = ExitCode::from(1);
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    code
}
