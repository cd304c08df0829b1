//! Writes a random-weight GGUF of a real model's shape, for speed benchmarks of the decoder's body
//! with no download (`bench_vs_llamacpp.py`): F16 matrices, which llama.cpp's quantizer
//! (`requantize_gguf.py`) turns into Q4_K_M, Q8_0, … The vocabulary is the tests' tiny one.
//!
//! ```sh
//! cargo run --release -p zipp-llm --example make_random_gguf -- OUT.gguf \
//!     --arch qwen3 --width 1024 --ffn 3072 --heads 16 --kv-heads 8 --layers 28
//! ```
//! (the default shape is Qwen3-0.6B's body: width 1024, a multiple of 256 as K-quants need).

#![allow(
    clippy::print_stderr,
    reason = "a tool run by hand: its report is its output"
)]

use candle_core::quantized::GgmlDType;
use zipp_llm::RandomShape;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut arch = "qwen3".to_owned();
    let mut shape = RandomShape {
        width: 1024,
        ffn: 3072,
        heads: 16,
        kv_heads: 8,
        layers: 28,
    };
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> usize {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => n,
                None => {
                    eprintln!("make_random_gguf: {what} needs a number");
                    std::process::exit(2)
                }
            }
        };
        match arg.as_str() {
            "--arch" => arch = args.next().unwrap_or_default(),
            "--width" => shape.width = number("--width"),
            "--ffn" => shape.ffn = number("--ffn"),
            "--heads" => shape.heads = number("--heads"),
            "--kv-heads" => shape.kv_heads = number("--kv-heads"),
            "--layers" => shape.layers = number("--layers"),
            path => out = Some(std::path::PathBuf::from(path)),
        }
    }
    let Some(out) = out else {
        eprintln!("usage: make_random_gguf OUT.gguf [--arch llama|qwen2|qwen3] [--width N] ...");
        std::process::exit(2)
    };
    if let Err(e) = zipp_llm::write_random_gguf(&out, 7, &arch, GgmlDType::F16, shape) {
        eprintln!("make_random_gguf: {e}");
        std::process::exit(1)
    }
    eprintln!("wrote {} ({arch}, {shape:?})", out.display());
}
