//! The GPU machine's check, as JSON on stdout (see `zipp_diffusion::device_check` and
//! `deploy/gpu-check.sh`): the diffusers parity fixtures on the device, then SD 1.5-, SDXL- and
//! FLUX.1-sized random-weight benchmarks. Exits 1 when a fixture fails.
//!
//! ```text
//! cargo build --release --features cuda -p zipp-diffusion --example gpu_check
//! target/release/examples/gpu_check [--cpu] [--quick] [--fixtures DIR]
//! ```

#![allow(
    clippy::print_stdout,
    reason = "a tool run by hand or by deploy/gpu-check.sh: its report is its output"
)]

use anyhow::{bail, Context as _};
use zipp_diffusion::device_check::{run, DeviceCheck};

fn main() -> anyhow::Result<()> {
    let mut check = DeviceCheck {
        fixtures: "tests/fixtures/sd".into(),
        quick: false,
    };
    let mut cpu = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cpu" => cpu = true,
            "--quick" => check.quick = true,
            "--fixtures" => check.fixtures = args.next().context("--fixtures DIR")?.into(),
            other => bail!("unknown argument {other:?} (see the example's doc comment)"),
        }
    }
    let device = zipp_diffusion::select_device(!cpu)?;
    let report = run(&device, &check)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report["passed"] != true {
        std::process::exit(1);
    }
    Ok(())
}
