#!/usr/bin/env python3
"""llama.cpp's top logits along its own greedy continuation of a prompt, as a Rust constant: the
reference `fast_tests::fused_decoder_follows_llama_cpp_on_smollm2` holds the fused decoder to.

    python examples/llamacpp_logits.py --model SmolLM2-135M-Instruct.Q4_1.gguf --steps 40 \
        --prompt-ids 1,9690,198,...

The continuation is generated greedily, then the prompt and continuation are evaluated in one
batch (`logits_all`), and each step's three best (token, logit) pairs are printed.
"""

import argparse
import os

import llama_cpp
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--prompt-ids", required=True)
    a = ap.parse_args()
    ids = [int(t) for t in a.prompt_ids.split(",")]
    llm = llama_cpp.Llama(a.model, n_threads=2, n_ctx=512, verbose=False, logits_all=True)
    greedy = []
    for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
        greedy.append(tok)
        if len(greedy) >= a.steps:
            break
    llm.reset()
    llm.eval(ids + greedy)
    scores = np.array(llm.scores[: llm.n_tokens])
    print(f"// llama-cpp-python {llama_cpp.__version__}, {os.path.basename(a.model)}")
    print("const LLAMA_CPP_STEPS: &[(u32, [(u32, f32); 3])] = &[")
    for step, tok in enumerate(greedy):
        row = scores[len(ids) - 1 + step]
        top = np.argsort(-row)[:3]
        pairs = ", ".join(f"({int(t)}, {float(row[t]):.4f})" for t in top)
        print(f"    ({tok}, [{pairs}]),")
    print("];")


if __name__ == "__main__":
    main()
