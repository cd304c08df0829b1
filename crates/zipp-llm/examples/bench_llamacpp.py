#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) counterpart of bench_local_llm.rs: same file, same prompt
recipe, same token counts, same greedy decoding; prints ONE JSON line.

    python examples/bench_llamacpp.py --model FILE.gguf --prompt-tokens 40 --gen 80 \
        --threads 2 --runs 5

The user message is the same story request padded word by word until the chat prompt
(rendered with the GGUF's own template, HF-style Jinja settings) reaches --prompt-tokens.
Timing mirrors the Rust bench: prefill = prompt tokens / time to the first sampled token,
decode = further tokens / remaining time, overall = (prompt + answer) / total; medians over
--runs after one warm-up run.
"""

import argparse
import json
import os
import resource
import statistics
import time

import jinja2
import llama_cpp

BASE = "Write a long and detailed story about a cat who lives on a sofa and dreams of painting."
FILLER = (
    "Describe the colors, the morning light, the quiet room, the rainy garden, the old friends, "
    "the soft music, the smell of paint and the brushes on the table."
)
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=40)
    ap.add_argument("--gen", type=int, default=80)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()

    t0 = time.perf_counter()
    llm = llama_cpp.Llama(a.model, n_threads=a.threads, n_threads_batch=a.threads, n_ctx=1024, verbose=False)
    load_s = time.perf_counter() - t0

    md = llm.metadata
    vocab = [llm.detokenize([i], special=True).decode("utf-8", "replace") for i in range(llm.n_vocab())]
    bos = vocab[llm.token_bos()] if llm.token_bos() >= 0 else ""
    eos = vocab[llm.token_eos()] if llm.token_eos() >= 0 else ""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(md.get("tokenizer.chat_template", CHATML))
    add_bos = md.get("tokenizer.ggml.add_bos_token", "false") == "true"
    stops = {llm.token_eos()} | {
        i for i, t in enumerate(vocab) if t in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>")
    }

    def tokens_of(user):
        text = template.render(
            messages=[{"role": "user", "content": user}], add_generation_prompt=True, bos_token=bos, eos_token=eos
        )
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    filler = FILLER.split()
    user, i = BASE, 0
    while len(tokens_of(user)) < a.prompt_tokens and i < 10000:
        user += " " + filler[i % len(filler)]
        i += 1
    prompt = tokens_of(user)

    prefill, decode, overall, generated = [], [], [], []
    answer = []
    for run in range(a.runs + 1):
        llm.reset()
        out = []
        start = time.perf_counter()
        first = None
        for tok in llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
            if first is None:
                first = time.perf_counter()
            if tok in stops:
                break
            out.append(tok)
            if len(out) >= a.gen:
                break
        end = time.perf_counter()
        if run == 0:
            continue  # warm-up
        p, d = first - start, end - first
        prefill.append(len(prompt) / p)
        decode.append(max(len(out) - 1, 0) / max(d, 1e-9))
        overall.append((len(prompt) + len(out)) / (end - start))
        generated.append(len(out))
        answer = out

    print(
        json.dumps(
            {
                "engine": "llama.cpp",
                "llama_cpp_python": llama_cpp.__version__,
                "model": os.path.basename(a.model),
                "threads": a.threads,
                "runs": a.runs,
                "prompt_tokens": len(prompt),
                "generated_tokens": generated,
                "prefill_tok_s": round(statistics.median(prefill), 1),
                "decode_tok_s": round(statistics.median(decode), 1),
                "overall_tok_s": round(statistics.median(overall), 1),
                "load_s": round(load_s, 3),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "user_message": user,
                "answer_start": llm.detokenize(answer).decode("utf-8", "replace")[:120],
            }
        )
    )


if __name__ == "__main__":
    main()
