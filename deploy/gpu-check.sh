#!/usr/bin/env bash
# The check of a render machine with one NVIDIA GPU and no network, before it serves: every
# diffusers parity fixture on CUDA (F16/BF16 tolerances), then SD 1.5-, SDXL- and FLUX.1-sized
# random-weight benchmarks (denoiser step, VAE decode, images/s at 512² and 1024², batch 1 and 4).
# Prints one JSON object on stdout; exits non-zero when a fixture fails. About 3–5 minutes on an
# H100-class GPU (FLUX.1's transformer alone is 24 GB of BF16 weights: 40 GB or more of GPU memory).
#
#   deploy/gpu-check.sh [BINARY] [ARGS...]
#
# BINARY defaults to target/release/examples/gpu_check, built elsewhere with
#   cargo build --release --features cuda -p zipp-diffusion --example gpu_check
# (or here, offline, when cargo and the CUDA toolkit are present). ARGS go to it (`--quick`: the
# CPU-sized smoke run; `--cpu`: on the CPU). Run from a checkout: it reads tests/fixtures/sd.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/examples/gpu_check
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    bin="$1"
    shift
fi
if [ ! -x "$bin" ]; then
    echo "building $bin (offline, --features cuda)" >&2
    cargo build --release --offline --features cuda -p zipp-diffusion --example gpu_check >&2
fi
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader >&2 || true
fi
exec timeout 600 "$bin" --fixtures tests/fixtures/sd "$@"
