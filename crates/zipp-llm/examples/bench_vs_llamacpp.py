#!/usr/bin/env python3
"""The embedded decoder against llama.cpp on the same files, in one run: for each file and
prompt length, `bench_local_llm` (once per kernel named) and `bench_llamacpp.py` alternate for
--rounds rounds (so a noisy machine disturbs both alike); the table gives each one's median
prefill, decode and overall tokens/s and peak RSS, and ours as a ratio of llama.cpp's.

    python crates/zipp-llm/examples/bench_vs_llamacpp.py --bench target/release/examples/bench_local_llm \
        --llama-python ~/.cache/zipp-ci/llama-venv/bin/python --kernels avx512vnni,avx2 \
        --prompts 50,300 --rounds 3 FILE.gguf [FILE.gguf ...]

Prints the CPU's model name and the flags that matter first, then one Markdown table.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu():
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_int8"]
    return model, [f for f in wanted if f in flags]


def run(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the built bench_local_llm example")
    ap.add_argument("--llama-python", required=True, help="a Python with llama-cpp-python")
    ap.add_argument("--kernels", default="", help="comma-separated ZIPP_LLM_KERNELS values; empty: the CPU's best")
    ap.add_argument("--prompts", default="50,300")
    ap.add_argument("--gen", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per call (after a warm-up)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    model, flags = cpu()
    print(f"CPU: {model}; flags: {' '.join(flags)}; {a.threads} threads", flush=True)
    kernels = [k for k in a.kernels.split(",") if k] or [""]
    rows = []
    for path in a.files:
        for prompt in [int(p) for p in a.prompts.split(",")]:
            common = ["--model", path, "--prompt-tokens", str(prompt), "--gen", str(a.gen),
                      "--threads", str(a.threads), "--runs", str(a.runs)]
            results = {}
            for _ in range(a.rounds):
                for k in kernels:
                    env = dict(os.environ, ZIPP_LLM_KERNELS=k)
                    r = run([a.bench] + common, env)
                    results.setdefault(f"zipp ({r['kernels']})", []).append(r)
                r = run([a.llama_python, os.path.join(HERE, "bench_llamacpp.py")] + common)
                results.setdefault("llama.cpp", []).append(r)
            base = results["llama.cpp"]
            med = lambda rs, key: statistics.median(r[key] for r in rs)
            for name, rs in results.items():
                row = [os.path.basename(path), str(rs[0]["prompt_tokens"]), name]
                for key in ("prefill_tok_s", "decode_tok_s", "overall_tok_s"):
                    value, ratio = med(rs, key), med(rs, key) / med(base, key)
                    row.append(f"{value:.0f}" + ("" if name == "llama.cpp" else f" ({ratio:.2f}x)"))
                row.append(f"{max(r['peak_rss_mib'] for r in rs):.0f}")
                rows.append(row)
                print(" | ".join(row), file=sys.stderr, flush=True)
    print("| file | prompt | engine | prefill tok/s | decode tok/s | overall tok/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
