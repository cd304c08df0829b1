//! The baselines of the ablation table (see the parent module's docs for their definitions)
//! and the ridge-regression probe of the λ = 0 row.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{bail, Result};

use super::graph_baselines::{image_space_row, poster_sums};
use super::{cold_precision_at_3, scored_row, Context, EvalRow, NO_GRAPH, TFIDF};
use crate::graph::EdgeType;
use crate::metrics::{cosine, normalized};

/// The image-only baseline: members are their mean remaining image, channels the sum of their
/// training members' vectors.
pub(super) fn no_graph(ctx: &Context) -> EvalRow {
    let started = Instant::now();
    let means = ctx.train_graph().mean_images();
    let channels = poster_sums(ctx, &means);
    image_space_row(ctx, NO_GRAPH, &means, &channels, started)
}

/// Lower-cased alphanumeric tokens (the tokenisation of the encoder's text feature).
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|ch: char| !ch.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// TF-IDF over the channels' name and topic words.
struct TfIdf {
    vocab: HashMap<String, usize>,
    idf: Vec<f32>,
}

impl TfIdf {
    /// Vocabulary and smoothed idf `ln((1 + N) / (1 + df)) + 1` over `docs`.
    fn fit(docs: &[String]) -> Self {
        let mut vocab: HashMap<String, usize> = HashMap::new();
        let mut df: Vec<f32> = Vec::new();
        for doc in docs {
            let mut seen = std::collections::HashSet::new();
            for t in tokens(doc) {
                let next = vocab.len();
                let id = *vocab.entry(t).or_insert(next);
                if id == df.len() {
                    df.push(0.0);
                }
                if seen.insert(id) {
                    df[id] += 1.0;
                }
            }
        }
        let n = docs.len() as f32;
        let idf = df
            .iter()
            .map(|d| ((1.0 + n) / (1.0 + d)).ln() + 1.0)
            .collect();
        Self { vocab, idf }
    }

    /// Unit-norm TF-IDF vector of `text` (words outside the vocabulary are ignored).
    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.idf.len()];
        for t in tokens(text) {
            if let Some(&id) = self.vocab.get(&t) {
                v[id] += self.idf[id];
            }
        }
        normalized(&v)
    }
}

/// The text baseline: count-weighted sums of the TF-IDF vectors of a member's channels.
pub(super) fn tfidf(ctx: &Context) -> EvalRow {
    let started = Instant::now();
    let g = ctx.train_graph();
    let docs: Vec<String> = g
        .channels
        .iter()
        .map(|c| format!("{} {}", c.name, c.topic))
        .collect();
    let model = TfIdf::fit(&docs);
    let channel: Vec<Vec<f32>> = docs.iter().map(|d| model.vector(d)).collect();
    let mut profile: Vec<Option<Vec<f32>>> = vec![None; g.members.len()];
    for e in &g.edges {
        if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
            let p = profile[e.src as usize].get_or_insert_with(|| vec![0.0; model.idf.len()]);
            p.iter_mut()
                .zip(&channel[e.dst as usize])
                .for_each(|(a, b)| *a += e.count as f32 * b);
        }
    }
    let tastes: Vec<Vec<f32>> = ctx
        .truth
        .tastes
        .iter()
        .map(|t| model.vector(&t.descriptors.join(" ")))
        .collect();
    let fit_s = started.elapsed().as_secs_f32();
    let score = |m: u32, c: u32| {
        profile[m as usize]
            .as_ref()
            .map_or(0.0, |p| cosine(p, &channel[c as usize]))
    };
    scored_row(
        ctx,
        TFIDF,
        &score,
        None,
        cold_precision_at_3(ctx, &profile, &tastes),
        fit_s,
    )
}

/// A linear map with bias fitted by ridge regression: `y ≈ W·[x; 1]`.
pub(super) struct Ridge {
    /// `[out][in + 1]`.
    weights: Vec<Vec<f64>>,
}

impl Ridge {
    /// Fits `(x, y)` pairs with penalty `lambda` on the weights (not the bias), solving the
    /// normal equations `(XᵀX + λI) W = XᵀY` by Cholesky.
    pub(super) fn fit(pairs: &[(&[f32], &[f32])], lambda: f64) -> Result<Self> {
        let Some(&(x0, y0)) = pairs.first() else {
            bail!("linear probe: no members with images to fit on");
        };
        let (din, dout) = (x0.len() + 1, y0.len());
        let mut a = vec![vec![0f64; din]; din];
        let mut b = vec![vec![0f64; dout]; din];
        for &(x, y) in pairs {
            let xb: Vec<f64> = x.iter().map(|&v| f64::from(v)).chain([1.0]).collect();
            for i in 0..din {
                for j in 0..din {
                    a[i][j] += xb[i] * xb[j];
                }
                for (k, &yk) in y.iter().enumerate() {
                    b[i][k] += xb[i] * f64::from(yk);
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate().take(din - 1) {
            row[i] += lambda;
        }
        let l = cholesky(&a)?;
        let weights = (0..dout)
            .map(|k| {
                let col: Vec<f64> = b.iter().map(|row| row[k]).collect();
                solve_cholesky(&l, &col)
            })
            .collect();
        Ok(Self { weights })
    }

    /// `W·[x; 1]`.
    pub(super) fn apply(&self, x: &[f32]) -> Vec<f32> {
        self.weights
            .iter()
            .map(|w| {
                let bias = w.last().copied().unwrap_or(0.0);
                (w.iter().zip(x).map(|(a, &b)| a * f64::from(b)).sum::<f64>() + bias) as f32
            })
            .collect()
    }
}

/// Lower-triangular `L` with `L·Lᵀ = a` for a symmetric positive-definite `a`.
fn cholesky(a: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0f64; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d <= 0.0 || !d.is_finite() {
                    bail!("linear probe: the normal equations are singular (too few members with images?)");
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Ok(l)
}

/// Solves `L·Lᵀ·x = b`.
fn solve_cholesky(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = l.len();
    let mut y = vec![0f64; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i][i];
    }
    let mut x = vec![0f64; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k][i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_recovers_a_linear_map() {
        // y = [2x0 - x1 + 1, 0.5x1 - 3]
        let xs: Vec<Vec<f32>> = (0..20)
            .map(|i| vec![i as f32 * 0.3, (i * i % 7) as f32])
            .collect();
        let ys: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| vec![2.0 * x[0] - x[1] + 1.0, 0.5 * x[1] - 3.0])
            .collect();
        let pairs: Vec<(&[f32], &[f32])> = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| (x.as_slice(), y.as_slice()))
            .collect();
        let r = Ridge::fit(&pairs, 1e-9).expect("fit");
        let y = r.apply(&[1.0, 2.0]);
        assert!(
            (y[0] - 1.0).abs() < 1e-3 && (y[1] + 2.0).abs() < 1e-3,
            "{y:?}"
        );
        assert!(Ridge::fit(&[], 1.0).is_err());
    }

    #[test]
    fn tfidf_weighs_rare_words_up() {
        let m = TfIdf::fit(&["neon nights".into(), "pastel nights".into()]);
        let v = m.vector("neon nights");
        let (neon, nights) = (m.vocab["neon"], m.vocab["nights"]);
        assert!(v[neon] > v[nights]);
        assert!(m.vector("unknown words").iter().all(|&x| x == 0.0));
    }
}
