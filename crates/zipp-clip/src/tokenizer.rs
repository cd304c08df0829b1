//! The CLIP text tokenizer used by Stable Diffusion 1.x/2.x, built offline.
//!
//! Stable Diffusion checkpoints in the diffusers layout ship the tokenizer as
//! `tokenizer/vocab.json` + `tokenizer/merges.txt` (the "slow" CLIPTokenizer
//! files) and usually no `tokenizer.json`. [`from_vocab_merges`] assembles the
//! same pipeline as Hugging Face's fast CLIP tokenizer from those two files:
//!
//! - normalizer: NFC, collapse whitespace runs to one space, lowercase;
//! - pre-tokenizer: CLIP's word-splitting regex, then byte-level mapping;
//! - model: BPE with the `</w>` end-of-word suffix;
//! - post-processor: `<|startoftext|> … <|endoftext|>`;
//! - decoder: turns `</w>` back into spaces and undoes the byte-level mapping.
//!
//! [`write_vocab_merges_from_bpe_gz`] converts OpenAI's original
//! `bpe_simple_vocab_16e6.txt.gz` (shipped in CLIP and open_clip) into those two
//! files, following `simple_tokenizer.py`, so tests can use the genuine CLIP ids
//! without network access.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Lowercase, Replace, Sequence as NormalizerSequence, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// The beginning-of-text special token.
pub const START_OF_TEXT: &str = "<|startoftext|>";
/// The end-of-text special token (also CLIP's padding token for SD 1.x).
pub const END_OF_TEXT: &str = "<|endoftext|>";
/// Id of [`START_OF_TEXT`] in the standard CLIP vocabulary.
pub const START_OF_TEXT_ID: u32 = 49406;
/// Id of [`END_OF_TEXT`] in the standard CLIP vocabulary.
pub const END_OF_TEXT_ID: u32 = 49407;
/// CLIP's context length: every prompt is padded or truncated to this.
pub const MAX_LEN: usize = 77;

/// Number of merges CLIP uses out of the BPE file (`simple_tokenizer.py`:
/// `merges[1 : 49152 - 256 - 2 + 1]`), giving a 49,408-token vocabulary.
const NUM_MERGES: usize = 49152 - 256 - 2;

/// CLIP's word-splitting regex (from `simple_tokenizer.py`, as used by the
/// Hugging Face fast tokenizer). The special tokens come first so they are kept
/// whole when they appear in raw text.
const CLIP_SPLIT_REGEX: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// Errors from building or using the CLIP tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum ClipTokenizerError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A vocabulary, merges or BPE file has unexpected content.
    #[error("malformed tokenizer file {path}: {reason}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The `tokenizers` library reported an error.
    #[error("tokenizer error: {0}")]
    Tokenizers(String),
}

type Result<T> = std::result::Result<T, ClipTokenizerError>;

/// BPE merge rules in priority order.
type Merges = Vec<(String, String)>;

fn tk_err(e: impl std::fmt::Display) -> ClipTokenizerError {
    ClipTokenizerError::Tokenizers(e.to_string())
}

/// Builds the CLIP tokenizer from a `vocab.json` and `merges.txt` pair (the
/// `tokenizer/` folder of a diffusers Stable Diffusion checkpoint).
///
/// Both special tokens must be in the vocabulary; their ids are taken from it,
/// so non-standard vocabularies keep working.
pub fn from_vocab_merges(vocab_json: &Path, merges_txt: &Path) -> Result<Tokenizer> {
    for p in [vocab_json, merges_txt] {
        if !p.is_file() {
            return Err(ClipTokenizerError::Io {
                path: p.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
            });
        }
    }
    let vocab_str = path_str(vocab_json)?;
    let merges_str = path_str(merges_txt)?;
    let (vocab, merges) =
        BPE::read_file(vocab_str, merges_str).map_err(|e| ClipTokenizerError::Format {
            path: vocab_json.parent().unwrap_or(vocab_json).to_path_buf(),
            reason: format!("reading vocab.json/merges.txt: {e}"),
        })?;
    build(vocab.into_iter().collect(), merges, vocab_json)
}

/// Where the bundled CLIP BPE lies in the source tree (`data/`, MIT): for tests, examples and
/// tiny-model writers that need it as a file. Compiled-in users call [`bundled`].
pub const BUNDLED_BPE_GZ_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/bpe_simple_vocab_16e6.txt.gz"
);

/// The CLIP BPE shipped in the binary (`data/`, MIT): the tokenizer of every Stable
/// Diffusion 1.x/2.x text encoder, so the bot can count a prompt's tokens exactly without the
/// model's files (which may live only on a GPU worker).
pub fn bundled() -> Result<Tokenizer> {
    static BPE_GZ: &[u8] = include_bytes!("../data/bpe_simple_vocab_16e6.txt.gz");
    let origin = Path::new("data/bpe_simple_vocab_16e6.txt.gz");
    let (vocab, merges) = vocab_merges_from_reader(BPE_GZ, origin)?;
    build(vocab, merges, origin)
}

/// Assembles the fast CLIP pipeline around a vocabulary and merge list; `origin` names the
/// source in errors.
fn build(vocab: HashMap<String, u32>, merges: Merges, origin: &Path) -> Result<Tokenizer> {
    let vocab_json = origin;
    let special_id = |name: &str| {
        vocab
            .get(name)
            .copied()
            .ok_or_else(|| ClipTokenizerError::Format {
                path: vocab_json.to_path_buf(),
                reason: format!("special token {name} is missing from the vocabulary"),
            })
    };
    let bos = special_id(START_OF_TEXT)?;
    let eos = special_id(END_OF_TEXT)?;

    let bpe = BPE::builder()
        .vocab_and_merges(
            vocab
                .into_iter()
                .collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .unk_token(END_OF_TEXT.to_string())
        .end_of_word_suffix("</w>".to_string())
        .build()
        .map_err(tk_err)?;

    let mut tok = Tokenizer::new(bpe);
    // CLIP's `whitespace_clean(...).lower()`; NFC first as in HF's tokenizer.json.
    let normalizer = NormalizerSequence::new(vec![
        NFC.into(),
        Replace::new(
            tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
            " ",
        )
        .map_err(tk_err)?
        .into(),
        Lowercase.into(),
    ]);
    tok.with_normalizer(Some(normalizer)).map_err(tk_err)?;
    let split = Split::new(
        SplitPattern::Regex(CLIP_SPLIT_REGEX.to_string()),
        SplitDelimiterBehavior::Removed,
        true,
    )
    .map_err(tk_err)?;
    tok.with_pre_tokenizer(Some(PreTokenizerSequence::new(vec![
        split.into(),
        ByteLevel::new(false, true, false).into(),
    ])));
    let post = TemplateProcessing::builder()
        .try_single(format!("{START_OF_TEXT} $A {END_OF_TEXT}"))
        .map_err(tk_err)?
        .try_pair(format!(
            "{START_OF_TEXT} $A {END_OF_TEXT} {START_OF_TEXT} $B {END_OF_TEXT}"
        ))
        .map_err(tk_err)?
        .special_tokens(vec![(START_OF_TEXT, bos), (END_OF_TEXT, eos)])
        .build()
        .map_err(tk_err)?;
    tok.with_post_processor(Some(post));
    // A plain BPEDecoder would leave byte-level characters (e.g. "Ã©" for "é")
    // in the text, and running it after ByteLevel (which joins all tokens into
    // one string) would drop every space. So map `</w>` to the byte-level space
    // `Ġ`, undo the byte-level mapping, and strip the trailing space.
    let decoder = DecoderSequence::new(vec![
        tokenizers::normalizers::replace::Replace::new("</w>", "Ġ")
            .map_err(tk_err)?
            .into(),
        ByteLevelDecoder::default().into(),
        Strip::new(' ', 0, 1).into(),
    ]);
    tok.with_decoder(Some(decoder));
    tok.add_special_tokens([
        AddedToken::from(START_OF_TEXT, true),
        AddedToken::from(END_OF_TEXT, true),
    ])
    .map_err(tk_err)?;
    Ok(tok)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| ClipTokenizerError::Format {
        path: p.to_path_buf(),
        reason: "path is not valid UTF-8".to_string(),
    })
}

/// GPT-2/CLIP's reversible byte → printable-unicode table, in the order
/// `simple_tokenizer.bytes_to_unicode()` produces it (which fixes the first 256
/// vocabulary ids).
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let mut bs: Vec<u32> = (u32::from('!')..=u32::from('~'))
        .chain(u32::from('¡')..=u32::from('¬'))
        .chain(u32::from('®')..=u32::from('ÿ'))
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter()
        .zip(cs)
        .filter_map(|(b, c)| Some((u8::try_from(b).ok()?, char::from_u32(c)?)))
        .collect()
}

/// Converts CLIP's `bpe_simple_vocab_16e6.txt.gz` into `vocab.json` and
/// `merges.txt` inside `out_dir` (created if needed), exactly as
/// `simple_tokenizer.py` derives its encoder: the 256 byte characters, the
/// same with `</w>`, one token per merge, then the two special tokens.
pub fn write_vocab_merges_from_bpe_gz(bpe_gz: &Path, out_dir: &Path) -> Result<()> {
    let (vocab, merges) = vocab_merges_from_bpe_gz(bpe_gz)?;
    std::fs::create_dir_all(out_dir).map_err(|source| ClipTokenizerError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    // Keep the file in id order, as the Hugging Face files are.
    let mut ordered: Vec<(&String, &u32)> = vocab.iter().collect();
    ordered.sort_by_key(|(_, id)| **id);
    let map: serde_json::Map<String, serde_json::Value> = ordered
        .into_iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
        .collect();
    let vocab_json = serde_json::to_string(&serde_json::Value::Object(map)).map_err(|e| {
        ClipTokenizerError::Format {
            path: bpe_gz.to_path_buf(),
            reason: format!("serialising vocab: {e}"),
        }
    })?;
    let mut merges_txt = String::from("#version: 0.2\n");
    for (a, b) in &merges {
        merges_txt.push_str(a);
        merges_txt.push(' ');
        merges_txt.push_str(b);
        merges_txt.push('\n');
    }
    for (name, content) in [("vocab.json", vocab_json), ("merges.txt", merges_txt)] {
        let path = out_dir.join(name);
        std::fs::write(&path, content).map_err(|source| ClipTokenizerError::Io { path, source })?;
    }
    Ok(())
}

/// Reads the gzip'd BPE file and returns CLIP's vocabulary and merge list.
fn vocab_merges_from_bpe_gz(bpe_gz: &Path) -> Result<(HashMap<String, u32>, Merges)> {
    let file = std::fs::File::open(bpe_gz).map_err(|source| ClipTokenizerError::Io {
        path: bpe_gz.to_path_buf(),
        source,
    })?;
    vocab_merges_from_reader(file, bpe_gz)
}

/// [`vocab_merges_from_bpe_gz`] over any reader of the gzip'd file; `bpe_gz` names it in errors.
fn vocab_merges_from_reader(
    file: impl Read,
    bpe_gz: &Path,
) -> Result<(HashMap<String, u32>, Merges)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| ClipTokenizerError::Format {
            path: bpe_gz.to_path_buf(),
            reason: format!("not a gzip'd UTF-8 text file: {e}"),
        })?;
    // Line 0 is a version header; CLIP uses the next NUM_MERGES lines.
    let lines: Vec<&str> = text.split('\n').skip(1).take(NUM_MERGES).collect();
    if lines.len() != NUM_MERGES {
        return Err(ClipTokenizerError::Format {
            path: bpe_gz.to_path_buf(),
            reason: format!(
                "expected at least {} merge lines, found {}",
                NUM_MERGES,
                lines.len()
            ),
        });
    }
    let mut merges = Vec::with_capacity(NUM_MERGES);
    for (i, line) in lines.iter().enumerate() {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                merges.push((a.to_string(), b.to_string()))
            }
            _ => {
                return Err(ClipTokenizerError::Format {
                    path: bpe_gz.to_path_buf(),
                    reason: format!("line {} is not a merge pair: {line:?}", i + 2),
                })
            }
        }
    }
    let byte_chars: Vec<String> = bytes_to_unicode()
        .into_iter()
        .map(|(_, c)| c.to_string())
        .collect();
    let mut tokens: Vec<String> = byte_chars.clone();
    tokens.extend(byte_chars.iter().map(|c| format!("{c}</w>")));
    tokens.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
    tokens.push(START_OF_TEXT.to_string());
    tokens.push(END_OF_TEXT.to_string());
    let mut vocab = HashMap::with_capacity(tokens.len());
    for (id, tok) in tokens.into_iter().enumerate() {
        let id = u32::try_from(id).map_err(|_| ClipTokenizerError::Format {
            path: bpe_gz.to_path_buf(),
            reason: "vocabulary too large".to_string(),
        })?;
        vocab.insert(tok, id);
    }
    Ok((vocab, merges))
}

/// Encodes `text` with BOS/EOS and returns exactly `max_len` ids: longer
/// prompts are truncated (EOS stays last, as CLIP was trained), shorter ones
/// padded with `pad_id` (EOS for SD 1.x, `!` = 0 for SD 2.x).
///
/// Special tokens are looked up by name, so this also works for a
/// `tokenizer.json` whose post-processor does not add them.
pub fn encode_padded(tok: &Tokenizer, text: &str, max_len: usize, pad_id: u32) -> Result<Vec<u32>> {
    if max_len < 2 {
        return Err(ClipTokenizerError::Tokenizers(format!(
            "max_len {max_len} leaves no room for the start and end tokens"
        )));
    }
    let eos = tok.token_to_id(END_OF_TEXT).unwrap_or(END_OF_TEXT_ID);
    let mut ids = encode_with_specials(tok, text)?;
    if ids.len() > max_len {
        ids.truncate(max_len - 1);
        ids.push(eos);
    }
    ids.resize(max_len, pad_id);
    Ok(ids)
}

/// Number of tokens `text` occupies in the text encoder's context, including
/// the start and end tokens; a prompt fits without truncation when this is at
/// most [`MAX_LEN`].
///
/// If the tokenizer fails (it should not for any UTF-8 input), this returns the
/// byte length plus two, which is an upper bound because every CLIP token
/// covers at least one byte.
pub fn count_tokens(tok: &Tokenizer, text: &str) -> usize {
    encode_with_specials(tok, text)
        .map(|ids| ids.len())
        .unwrap_or(text.len() + 2)
}

fn encode_with_specials(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let bos = tok.token_to_id(START_OF_TEXT).unwrap_or(START_OF_TEXT_ID);
    let eos = tok.token_to_id(END_OF_TEXT).unwrap_or(END_OF_TEXT_ID);
    let enc = tok.encode(text, true).map_err(tk_err)?;
    let mut ids = enc.get_ids().to_vec();
    if ids.first() != Some(&bos) {
        ids.insert(0, bos);
    }
    if ids.len() < 2 || ids.last() != Some(&eos) {
        ids.push(eos);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BPE_GZ: &str = BUNDLED_BPE_GZ_PATH;

    fn clip() -> Tokenizer {
        let dir = tempfile::tempdir().unwrap();
        write_vocab_merges_from_bpe_gz(Path::new(BPE_GZ), dir.path()).unwrap();
        from_vocab_merges(
            &dir.path().join("vocab.json"),
            &dir.path().join("merges.txt"),
        )
        .unwrap()
    }

    #[test]
    fn bytes_to_unicode_matches_clip() {
        let table = bytes_to_unicode();
        assert_eq!(table.len(), 256);
        assert_eq!(table[0], (b'!', '!'));
        // The first byte outside the printable ranges (0x00) maps to U+0100,
        // and space (0x20) to 'Ġ' (U+0120).
        assert!(table.contains(&(0u8, '\u{100}')));
        assert!(table.contains(&(b' ', 'Ġ')));
    }

    #[test]
    fn bundled_tokenizer_is_the_file_tokenizer() {
        let (files, bundled) = (clip(), bundled().unwrap());
        for text in ["a cat on a sofa, 4k", "Ünïcödé ✨ 日本語", ""] {
            assert_eq!(count_tokens(&files, text), count_tokens(&bundled, text));
            assert_eq!(
                files.encode(text, true).unwrap().get_ids(),
                bundled.encode(text, true).unwrap().get_ids()
            );
        }
    }

    #[test]
    fn vocabulary_has_clip_size_and_specials() {
        let tok = clip();
        assert_eq!(tok.get_vocab_size(true), 49408);
        assert_eq!(tok.token_to_id(START_OF_TEXT), Some(START_OF_TEXT_ID));
        assert_eq!(tok.token_to_id(END_OF_TEXT), Some(END_OF_TEXT_ID));
    }

    #[test]
    fn encodes_standard_clip_ids() {
        let tok = clip();
        let ids = tok
            .encode("a photo of a cat", true)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids, [49406, 320, 1125, 539, 320, 2368, 49407]);
        // Case and whitespace are normalised like CLIP's whitespace_clean + lower.
        let ids2 = tok
            .encode("  A   Photo\tof a CAT ", true)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids2, ids);
    }

    #[test]
    fn decodes_back_to_text() {
        let tok = clip();
        let ids = tok.encode("a photo of a café, 2 dogs!", true).unwrap();
        let text = tok.decode(ids.get_ids(), true).unwrap();
        assert_eq!(text, "a photo of a café , 2 dogs !");
    }

    #[test]
    fn encode_padded_pads_and_truncates() {
        let tok = clip();
        let ids = encode_padded(&tok, "a photo of a cat", MAX_LEN, END_OF_TEXT_ID).unwrap();
        assert_eq!(ids.len(), MAX_LEN);
        assert_eq!(&ids[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
        assert!(ids[7..].iter().all(|&i| i == END_OF_TEXT_ID));

        let ids = encode_padded(&tok, "a photo of a cat", 10, 0).unwrap();
        assert_eq!(ids, [49406, 320, 1125, 539, 320, 2368, 49407, 0, 0, 0]);

        let long = "cat ".repeat(200);
        let ids = encode_padded(&tok, &long, MAX_LEN, END_OF_TEXT_ID).unwrap();
        assert_eq!(ids.len(), MAX_LEN);
        assert_eq!(ids[0], START_OF_TEXT_ID);
        assert_eq!(ids[MAX_LEN - 1], END_OF_TEXT_ID);
        assert!(ids[1..MAX_LEN - 1].iter().all(|&i| i == 2368));

        assert!(encode_padded(&tok, "x", 1, 0).is_err());
    }

    #[test]
    fn count_tokens_includes_specials() {
        let tok = clip();
        assert_eq!(count_tokens(&tok, "a photo of a cat"), 7);
        assert_eq!(count_tokens(&tok, ""), 2);
        assert_eq!(count_tokens(&tok, &"cat ".repeat(100)), 102);
    }

    #[test]
    fn rejects_bad_bpe_file() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("bogus.gz");
        std::fs::write(&bogus, b"not gzip").unwrap();
        let err = write_vocab_merges_from_bpe_gz(&bogus, dir.path()).unwrap_err();
        assert!(err.to_string().contains("bogus.gz"), "{err}");
        let err = from_vocab_merges(&dir.path().join("nope.json"), &bogus).unwrap_err();
        assert!(err.to_string().contains("nope.json"), "{err}");
    }
}
