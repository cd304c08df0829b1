//! Plain-number metrics shared by training (validation) and evaluation: ROC AUC, accuracy at a
//! balanced threshold, recall@k of a ranking, and cosine similarity. Pure functions over
//! slices, so every baseline and the model are scored by the same code.

/// ROC AUC (Mann–Whitney, ties count half) of positive against negative scores; 0.5 when
/// either side is empty. `O((P + N) log(P + N))`.
pub fn auc(pos: &[f32], neg: &[f32]) -> f32 {
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    // Rank all scores together (average ranks for ties); AUC = (R_pos - P(P+1)/2) / (P·N).
    let mut all: Vec<(f32, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_pos = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1..=j+1 share their average.
        let avg = (i + j + 2) as f64 / 2.0;
        rank_sum_pos += avg * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    ((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n)) as f32
}

/// Accuracy of "positive iff score > t" with `t` the median of all scores together: the
/// operating point of a balanced split that needs no calibrated threshold, so scores of any
/// scale (dot products, cosines) compare. 0.5 when either side is empty.
pub fn accuracy_at_median(pos: &[f32], neg: &[f32]) -> f32 {
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    let mut all: Vec<f32> = pos.iter().chain(neg).copied().collect();
    all.sort_by(f32::total_cmp);
    let t = if all.len() % 2 == 1 {
        all[all.len() / 2]
    } else {
        (all[all.len() / 2 - 1] + all[all.len() / 2]) / 2.0
    };
    let right = pos.iter().filter(|&&s| s > t).count() + neg.iter().filter(|&&s| s <= t).count();
    right as f32 / (pos.len() + neg.len()) as f32
}

/// Share of `relevant` items among the `k` highest `scores` (ties broken by lower index), i.e.
/// recall@k of one query; 0 when nothing is relevant.
pub fn recall_at_k(scores: &[f32], relevant: &[usize], k: usize) -> f32 {
    if relevant.is_empty() {
        return 0.0;
    }
    let top = top_k_indices(scores, k);
    let hits = relevant.iter().filter(|r| top.contains(r)).count();
    hits as f32 / relevant.len() as f32
}

/// Indices of the `k` highest scores, best first; ties go to the lower index, NaN ranks last.
pub fn top_k_indices(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let key = |i: usize| {
        let s = scores[i];
        if s.is_nan() {
            f32::NEG_INFINITY
        } else {
            s
        }
    };
    let cmp = |a: &usize, b: &usize| key(*b).total_cmp(&key(*a)).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

/// Cosine similarity; 0 when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// `v` scaled to unit length (unchanged when all zeros).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n == 0.0 {
        v.to_vec()
    } else {
        v.iter().map(|x| x / n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quadratic definition, to check the rank formula against.
    fn auc_pairs(pos: &[f32], neg: &[f32]) -> f32 {
        let mut wins = 0f64;
        for &p in pos {
            for &n in neg {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        (wins / (pos.len() * neg.len()) as f64) as f32
    }

    #[test]
    fn auc_matches_pairwise_definition_with_ties() {
        let pos = [0.9, 0.5, 0.5, 0.1, 0.7];
        let neg = [0.5, 0.2, 0.5, 0.95];
        assert!((auc(&pos, &neg) - auc_pairs(&pos, &neg)).abs() < 1e-6);
        assert_eq!(auc(&[1.0, 2.0], &[0.0]), 1.0);
        assert_eq!(auc(&[0.0], &[1.0, 2.0]), 0.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        assert_eq!(auc(&[], &[1.0]), 0.5);
    }

    #[test]
    fn accuracy_uses_the_median_threshold() {
        assert_eq!(accuracy_at_median(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(accuracy_at_median(&[1.0, 2.0], &[3.0, 4.0]), 0.0);
        // All tied: everything is predicted negative, half right.
        assert_eq!(accuracy_at_median(&[0.0, 0.0], &[0.0, 0.0]), 0.5);
    }

    #[test]
    fn recall_and_top_k() {
        let s = [0.1, 0.9, 0.5, 0.9, f32::NAN];
        assert_eq!(top_k_indices(&s, 3), vec![1, 3, 2]);
        assert_eq!(top_k_indices(&s, 10), vec![1, 3, 2, 0, 4]);
        assert_eq!(recall_at_k(&s, &[2, 0], 3), 0.5);
        assert_eq!(recall_at_k(&s, &[], 3), 0.0);
    }

    #[test]
    fn cosine_handles_zero_vectors() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert_eq!(normalized(&[3.0, 4.0]), vec![0.6, 0.8]);
    }
}
