#!/usr/bin/env python3
"""Re-encodes a GGUF file with llama.cpp's own quantizer (llama-cpp-python), for benchmarks on
the weight types an operator may download (Q4_K_M, Q8_0, Q4_0, Q4_1) when only one file is at
hand. Requantizing an already quantized file loses a little quality; speed is what it is for.

    python examples/requantize_gguf.py SRC.gguf DST.gguf Q4_K_M
"""

import ctypes
import sys

import llama_cpp

FTYPES = {
    "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
    "Q4_1": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1,
    "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
    "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in FTYPES:
        sys.exit(f"usage: {sys.argv[0]} SRC.gguf DST.gguf {'|'.join(FTYPES)}")
    src, dst, kind = sys.argv[1:]
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[kind]
    params.allow_requantize = True
    params.nthread = 2
    if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"llama.cpp could not quantize {src}")


if __name__ == "__main__":
    main()
