//! A `tokenizers::Tokenizer` built from a GGUF file's own metadata, so a model needs no
//! `tokenizer.json` next to it.
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE from `tokens` + `merges`; the
//!   pre-tokenizer regex follows `tokenizer.ggml.pre` the way llama.cpp does (GPT-2, SmolLM /
//!   StarCoder with single digits, Llama 3, Qwen 2).
//! - `tokenizer.ggml.model = "llama"`: SentencePiece-style BPE with byte fallback and `▁` for
//!   spaces; merges are derived from the token scores (a merge ranks as high as the score of
//!   the token it produces), as SentencePiece's BPE picks the best-scoring pair.
//!
//! Control tokens (`token_type` 3) become special added tokens and user-defined ones (4)
//! plain added tokens, so `<|im_start|>` in the rendered chat template is one token.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, SplitDelimiterBehavior, Tokenizer};

use super::LocalError;

/// Llama 3's pre-tokenizer regex (`tokenizer.ggml.pre = "llama-bpe"`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's pre-tokenizer regex: like Llama 3's but one digit per piece.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token names that end a turn in the common chat formats (used as stop tokens when present).
const END_OF_TURN: [&str; 7] = [
    "<|im_end|>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eom_id|>",
];

/// GGUF `token_type` values (llama.cpp's `llama_token_type`).
const TYPE_NORMAL: i32 = 1;
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

/// The tokenizer and the special tokens generation needs.
pub(super) struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    /// `tokenizer.ggml.model`: `gpt2` or `llama`.
    pub kind: String,
    pub bos_id: Option<u32>,
    /// Whether llama.cpp would put BOS in front of the prompt (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// The text of BOS and EOS, for the chat template's `bos_token` / `eos_token`.
    pub bos_text: String,
    pub eos_text: String,
    /// EOS plus the end-of-turn tokens present in the vocabulary.
    pub stop_ids: Vec<u32>,
}

fn missing(key: &str) -> LocalError {
    LocalError::Format(format!("missing metadata key {key}"))
}

fn bad(key: &str, what: impl std::fmt::Display) -> LocalError {
    LocalError::Format(format!("metadata key {key}: {what}"))
}

fn string<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a str, LocalError> {
    md.get(key)
        .ok_or_else(|| missing(key))?
        .to_string()
        .map(String::as_str)
        .map_err(|e| bad(key, e))
}

fn array<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<Option<&'a [Value]>, LocalError> {
    md.get(key)
        .map(|v| v.to_vec().map(Vec::as_slice).map_err(|e| bad(key, e)))
        .transpose()
}

fn strings(md: &HashMap<String, Value>, key: &str) -> Result<Option<Vec<String>>, LocalError> {
    array(md, key)?
        .map(|a| {
            a.iter()
                .map(|v| v.to_string().cloned().map_err(|e| bad(key, e)))
                .collect()
        })
        .transpose()
}

/// An optional token id; out of range ids are an error naming the key.
fn token_id(md: &HashMap<String, Value>, key: &str, n: usize) -> Result<Option<u32>, LocalError> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    let id = v.to_u32().map_err(|e| bad(key, e))?;
    if id as usize >= n {
        return Err(bad(
            key,
            format!("token id {id} is outside the vocabulary of {n}"),
        ));
    }
    Ok(Some(id))
}

/// Builds the tokenizer described by the GGUF metadata.
pub(super) fn from_metadata(md: &HashMap<String, Value>) -> Result<GgufTokenizer, LocalError> {
    let kind = string(md, "tokenizer.ggml.model")?.to_owned();
    let tokens =
        strings(md, "tokenizer.ggml.tokens")?.ok_or_else(|| missing("tokenizer.ggml.tokens"))?;
    if tokens.is_empty() {
        return Err(bad("tokenizer.ggml.tokens", "empty vocabulary"));
    }
    let n = tokens.len();
    let types: Vec<i32> = match array(md, "tokenizer.ggml.token_type")? {
        Some(a) if a.len() == n => a
            .iter()
            .map(|v| v.to_i32().map_err(|e| bad("tokenizer.ggml.token_type", e)))
            .collect::<Result<_, _>>()?,
        Some(a) => {
            return Err(bad(
                "tokenizer.ggml.token_type",
                format!("{} entries for {n} tokens", a.len()),
            ))
        }
        // No types: treat `<|...|>` tokens as control tokens, everything else as normal.
        None => tokens
            .iter()
            .map(|t| {
                if t.len() > 4 && t.starts_with("<|") && t.ends_with("|>") {
                    TYPE_CONTROL
                } else {
                    TYPE_NORMAL
                }
            })
            .collect(),
    };
    let mut vocab = Vocab::default();
    for (id, t) in tokens.iter().enumerate() {
        vocab.entry(t.clone()).or_insert(id as u32);
    }
    let bos_id = token_id(md, "tokenizer.ggml.bos_token_id", n)?;
    let eos_id = token_id(md, "tokenizer.ggml.eos_token_id", n)?;
    let unk_id = token_id(md, "tokenizer.ggml.unknown_token_id", n)?;
    let add_bos_default = kind == "llama";
    let add_bos = match md.get("tokenizer.ggml.add_bos_token") {
        Some(v) => v
            .to_bool()
            .map_err(|e| bad("tokenizer.ggml.add_bos_token", e))?,
        None => add_bos_default,
    };

    let mut tokenizer = match kind.as_str() {
        "gpt2" => byte_level_bpe(md, vocab)?,
        "llama" => sentencepiece_bpe(md, &tokens, &types, vocab, unk_id)?,
        other => {
            return Err(bad(
                "tokenizer.ggml.model",
                format!("unsupported tokenizer model \"{other}\" (supported: gpt2, llama)"),
            ))
        }
    };
    let added = |wanted: &[i32], special: bool| -> Vec<AddedToken> {
        tokens
            .iter()
            .zip(&types)
            .filter(|(t, ty)| wanted.contains(ty) && !t.is_empty())
            .map(|(t, _)| AddedToken::from(t.clone(), special).normalized(false))
            .collect()
    };
    tokenizer
        .add_special_tokens(added(&[TYPE_CONTROL, TYPE_UNKNOWN], true))
        .map_err(|e| build_err("control tokens", e))?;
    tokenizer
        .add_tokens(added(&[TYPE_USER_DEFINED], false))
        .map_err(|e| build_err("user-defined tokens", e))?;

    let text_of = |id: Option<u32>| id.map(|i| tokens[i as usize].clone()).unwrap_or_default();
    let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
    for name in END_OF_TURN {
        if let Some(id) = vocab_lookup(&tokens, name) {
            if !stop_ids.contains(&id) {
                stop_ids.push(id);
            }
        }
    }
    Ok(GgufTokenizer {
        tokenizer,
        kind,
        bos_id,
        add_bos,
        bos_text: text_of(bos_id),
        eos_text: text_of(eos_id),
        stop_ids,
    })
}

fn vocab_lookup(tokens: &[String], name: &str) -> Option<u32> {
    tokens.iter().position(|t| t == name).map(|i| i as u32)
}

fn build_err(what: &str, e: impl std::fmt::Display) -> LocalError {
    LocalError::Format(format!("bad tokenizer in metadata ({what}): {e}"))
}

fn byte_level_bpe(md: &HashMap<String, Value>, vocab: Vocab) -> Result<Tokenizer, LocalError> {
    let key = "tokenizer.ggml.merges";
    let merges = strings(md, key)?
        .ok_or_else(|| missing(key))?
        .into_iter()
        .map(|m| match m.split_once(' ') {
            Some((a, b)) => Ok((a.to_owned(), b.to_owned())),
            None => Err(bad(key, format!("merge \"{m}\" is not two tokens"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pre = md
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map_or("default", |s| s);
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre == "llama-bpe")
        .build()
        .map_err(|e| build_err("gpt2 merges", e))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let split = |regex: &str| -> Result<Split, LocalError> {
        Split::new(
            SplitPattern::Regex(regex.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| build_err("pre-tokenizer regex", e))
    };
    let pre_tokenizer = match pre {
        "llama-bpe" | "llama3" | "smaug-bpe" | "dbrx" => PreSequence::new(vec![
            split(LLAMA3_REGEX)?.into(),
            ByteLevel::new(false, true, false).into(),
        ]),
        "qwen2" | "deepseek-r1-qwen" => PreSequence::new(vec![
            split(QWEN2_REGEX)?.into(),
            ByteLevel::new(false, true, false).into(),
        ]),
        "smollm" | "starcoder" | "refact" | "codeshell" => PreSequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ]),
        _ => PreSequence::new(vec![ByteLevel::new(false, true, true).into()]),
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    Ok(tokenizer)
}

fn sentencepiece_bpe(
    md: &HashMap<String, Value>,
    tokens: &[String],
    types: &[i32],
    vocab: Vocab,
    unk_id: Option<u32>,
) -> Result<Tokenizer, LocalError> {
    let key = "tokenizer.ggml.scores";
    let scores: Vec<f32> = match array(md, key)? {
        Some(a) if a.len() == tokens.len() => a
            .iter()
            .map(|v| v.to_f32().map_err(|e| bad(key, e)))
            .collect::<Result<_, _>>()?,
        Some(a) => {
            return Err(bad(
                key,
                format!("{} scores for {} tokens", a.len(), tokens.len()),
            ))
        }
        None => (0..tokens.len()).map(|i| -(i as f32)).collect(),
    };
    let merges = derive_merges(tokens, types, &scores, &vocab);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk_id {
        builder = builder.unk_token(tokens[unk as usize].clone());
    }
    let bpe = builder
        .build()
        .map_err(|e| build_err("sentencepiece vocabulary", e))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let add_space_prefix = match md.get("tokenizer.ggml.add_space_prefix") {
        Some(v) => v
            .to_bool()
            .map_err(|e| bad("tokenizer.ggml.add_space_prefix", e))?,
        None => true,
    };
    let replace = Replace::new(" ", "▁").map_err(|e| build_err("normalizer", e))?;
    let normalizer = if add_space_prefix {
        NormalizerSequence::new(vec![Prepend::new("▁".to_owned()).into(), replace.into()])
    } else {
        NormalizerSequence::new(vec![replace.into()])
    };
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| build_err("normalizer", e))?;
    let space = Replace::new("▁", " ").map_err(|e| build_err("decoder", e))?;
    let mut decoders: Vec<DecoderWrapper> =
        vec![space.into(), ByteFallback::new().into(), Fuse::new().into()];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// SentencePiece BPE merges from scores: every normal token that splits into two vocabulary
/// pieces yields a merge, ranked by the produced token's score (best first).
fn derive_merges(
    tokens: &[String],
    types: &[i32],
    scores: &[f32],
    vocab: &Vocab,
) -> Vec<(String, String)> {
    let mut found: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        if types[id] != TYPE_NORMAL || vocab.get(token.as_str()) != Some(&(id as u32)) {
            continue;
        }
        for (cut, _) in token.char_indices().skip(1) {
            let (l, r) = token.split_at(cut);
            if let (Some(&a), Some(&b)) = (vocab.get(l), vocab.get(r)) {
                found.push((scores[id], id as u32, a, b));
            }
        }
    }
    found.sort_by(|x, y| {
        y.0.total_cmp(&x.0)
            .then(x.1.cmp(&y.1))
            .then(x.2.cmp(&y.2))
            .then(x.3.cmp(&y.3))
    });
    found
        .into_iter()
        .map(|(_, _, a, b)| (tokens[a as usize].clone(), tokens[b as usize].clone()))
        .collect()
}
