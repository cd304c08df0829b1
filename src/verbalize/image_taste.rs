//! The look the encoder expects a member to like, in words.
//!
//! The persona encoder's ImageAlign head projects every member into the image space of the CLIP
//! that embedded the server's images (trained so a member lands near the images they engage
//! with). Read against the vocabulary's phrases embedded by the same CLIP's text tower — CLIP's
//! zero-shot classification — that point names the look of those images. It matters most for
//! members with little of their own: someone who posted twice in `#general` and whose taste
//! shows only in whom they talk to has no channel or role that says it, but the graph places
//! them near their partners' images.

/// How many phrases name a member's image taste.
pub const PHRASES: usize = 3;

/// The `n` vocabulary entries (indices into `phrases`) nearest to `point` by cosine, nearest
/// first, among those clearly nearer than the average entry (z-score above 1). CLIP's text
/// and image embeddings sit apart, so every raw cosine is low and only the relative standing
/// says anything. Empty when the dimensions differ, the point is zero, or nothing stands out.
pub fn nearest_entries(point: &[f32], phrases: &[Vec<f32>], n: usize) -> Vec<usize> {
    if phrases.len() < 2 || phrases.iter().any(|p| p.len() != point.len()) {
        return Vec::new();
    }
    let norm = point.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm <= 1e-12 {
        return Vec::new();
    }
    let sims: Vec<f32> = phrases
        .iter()
        .map(|p| {
            let p_norm = p.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            p.iter().zip(point).map(|(a, b)| a * b).sum::<f32>() / (p_norm * norm)
        })
        .collect();
    let count = sims.len() as f32;
    let mean = sims.iter().sum::<f32>() / count;
    let std = (sims.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / count).sqrt();
    if !std.is_finite() || std <= 1e-6 {
        return Vec::new();
    }
    let mut standing: Vec<(usize, f32)> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| (i, (s - mean) / std))
        .filter(|&(_, z)| z > 1.0)
        .collect();
    standing.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    standing.into_iter().take(n).map(|(i, _)| i).collect()
}

/// A member's image taste: the phrases of the [`PHRASES`] entries nearest to their point
/// ([`nearest_entries`]; `phrases` embeds `vocab`'s entries in order), in vocabulary order —
/// which are nearest counts, not their order among themselves (see [`entry_scores`]).
pub fn image_taste(point: &[f32], phrases: &[Vec<f32>], vocab: &super::Vocabulary) -> Vec<String> {
    let mut nearest = nearest_entries(point, phrases, PHRASES);
    nearest.sort_unstable();
    nearest
        .into_iter()
        .filter_map(|k| vocab.entries.get(k))
        .map(|d| d.phrase.clone())
        .collect()
}

/// What a whole image taste adds to its entries' scores: as much as one unit of evidence
/// naming two keywords of an entry (a member's prompts, say), so it decides where the member's
/// own words say nothing and joins them where they do.
pub const WEIGHT: f32 = 2.0;

/// Per-entry scores of an image taste for [`super::Vocabulary::nearest_with`]: the phrases
/// share [`WEIGHT`] equally, each scoring its own entry directly — not through its words, which
/// may point at another entry too ("ink sketches" has ukiyo-e's "ink"). Which phrases are
/// nearest counts, not their order among themselves: a refresh on a sampled neighbourhood
/// moves the member's point a little, and should not reword the persona for it. Phrases the
/// vocabulary no longer has (an operator changed the file) score nothing.
pub fn entry_scores(phrases: &[String], vocab: &super::Vocabulary) -> Vec<f32> {
    let mut scores = vec![0f32; vocab.entries.len()];
    let share = WEIGHT / phrases.len().max(1) as f32;
    for phrase in phrases {
        if let Some(k) = vocab.entries.iter().position(|d| &d.phrase == phrase) {
            scores[k] += share;
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(i: usize, dim: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[i] = 1.0;
        v
    }

    #[test]
    fn the_nearest_phrases_that_stand_out_nearest_first() {
        let phrases: Vec<Vec<f32>> = (0..6).map(|i| unit(i, 8)).collect();
        // Mostly phrase 2, some of phrase 4, a little of 0: two stand out.
        let point = [0.1, 0.0, 0.9, 0.0, 0.7, 0.0, 0.0, 0.0];
        assert_eq!(nearest_entries(&point, &phrases, 3), [2, 4]);
        assert_eq!(nearest_entries(&point, &phrases, 1), [2]);
        // Scale does not matter (cosine), nor does a common offset of the text embeddings
        // (the modality gap) once the standing is relative.
        let scaled: Vec<f32> = point.iter().map(|x| x * 7.0).collect();
        assert_eq!(nearest_entries(&scaled, &phrases, 3), [2, 4]);
        let gap: Vec<Vec<f32>> = phrases
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p[7] += 3.0;
                p
            })
            .collect();
        assert_eq!(nearest_entries(&point, &gap, 3), [2, 4]);
    }

    #[test]
    fn nothing_when_nothing_fits() {
        let phrases: Vec<Vec<f32>> = (0..4).map(|i| unit(i, 4)).collect();
        assert!(nearest_entries(&[0.0; 4], &phrases, 3).is_empty(), "zero");
        assert!(nearest_entries(&[1.0; 3], &phrases, 3).is_empty(), "dims");
        assert!(nearest_entries(&[0.5; 4], &phrases, 3).is_empty(), "even");
        assert!(
            nearest_entries(&[f32::NAN; 4], &phrases, 3).is_empty(),
            "nan"
        );
        assert!(nearest_entries(&[1.0, 0.0, 0.0, 0.0], &phrases[..1], 3).is_empty());
    }
}
