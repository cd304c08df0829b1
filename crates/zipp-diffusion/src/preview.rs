//! Live previews: a cheap latent → RGB projection, no VAE decode.
//!
//! The projection is a linear map (one weight per latent channel and colour, plus a bias) fitted
//! to the model's *own* autoencoder when the first preview is asked for: a few flat colour
//! patches go through its encoder, and least squares maps their latents back to their colours.
//! It fits every autoencoder the loader reads (the KL VAE of SD 1.x/2.x/SDXL, TAESD), with no
//! table of per-model constants to keep. A preview is one pixel per latent pixel (64×64 for a
//! 512×512 render), made in well under a millisecond.

use candle_core::{DType, Device, Tensor};

use crate::{DiffusionModel, Result};

/// Side of the flat colour patches the fit encodes (pixels).
const PATCH: u32 = 64;

/// The colours the fit encodes: the corners of the RGB cube and mid grey.
const COLOURS: [[u8; 3]; 9] = [
    [0, 0, 0],
    [255, 255, 255],
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
    [255, 0, 255],
    [128, 128, 128],
];

/// A fitted latent → RGB projection: `rgb[c] = Σ_k weights[k][c] · latent[k] + bias[c]`, in
/// [0, 1] before clamping.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentPreview {
    /// One row per latent channel, one column per colour.
    pub weights: Vec<[f32; 3]>,
    /// Per colour.
    pub bias: [f32; 3],
}

impl LatentPreview {
    /// Fits the projection from `(latent vector, rgb in [0, 1])` samples by least squares
    /// (normal equations with a small ridge, solved by Gaussian elimination).
    pub fn fit(samples: &[(Vec<f32>, [f32; 3])]) -> Option<LatentPreview> {
        let channels = samples.first()?.0.len();
        let n = channels + 1;
        // A = Σ x xᵀ, B = Σ x yᵀ with x = [latent, 1].
        let mut a = vec![vec![0f64; n]; n];
        let mut b = vec![[0f64; 3]; n];
        for (latent, rgb) in samples {
            if latent.len() != channels {
                return None;
            }
            let x: Vec<f64> = latent
                .iter()
                .map(|&v| f64::from(v))
                .chain(std::iter::once(1.0))
                .collect();
            for i in 0..n {
                for j in 0..n {
                    a[i][j] += x[i] * x[j];
                }
                for c in 0..3 {
                    b[i][c] += x[i] * f64::from(rgb[c]);
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate().take(channels) {
            row[i] += 1e-6 * samples.len() as f64;
        }
        let solution = solve(a, b)?;
        Some(LatentPreview {
            weights: solution[..channels]
                .iter()
                .map(|w| [w[0] as f32, w[1] as f32, w[2] as f32])
                .collect(),
            bias: [
                solution[channels][0] as f32,
                solution[channels][1] as f32,
                solution[channels][2] as f32,
            ],
        })
    }

    /// Scaled latents `[1, C, h, w]` → an RGB image of `w`×`h`.
    pub fn project(&self, latents: &Tensor) -> Result<image::RgbImage> {
        let latents = latents.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
        let (_, channels, h, w) = latents.dims4()?;
        let planes: Vec<Vec<f32>> = latents.squeeze(0)?.flatten_from(1)?.to_vec2()?;
        let pixels = h * w;
        let mut out = Vec::with_capacity(pixels * 3);
        for p in 0..pixels {
            for c in 0..3 {
                let mut v = self.bias[c];
                for (k, plane) in planes
                    .iter()
                    .enumerate()
                    .take(channels.min(self.weights.len()))
                {
                    v += self.weights[k][c] * plane[p];
                }
                out.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
        image::RgbImage::from_raw(w as u32, h as u32, out)
            .ok_or_else(|| crate::DiffusionError::InvalidParams("preview buffer size".to_owned()))
    }
}

/// Solves `A X = B` (A n×n, B n×3) by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<[f64; 3]>) -> Option<Vec<[f64; 3]>> {
    let n = a.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (pivot_a, pivot_b) = (a[col].clone(), b[col]);
        for (row, (a_row, b_row)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            let factor = a_row[col] / pivot_a[col];
            if row == col || factor == 0.0 {
                continue;
            }
            for (x, p) in a_row.iter_mut().zip(&pivot_a).skip(col) {
                *x -= factor * p;
            }
            for (x, p) in b_row.iter_mut().zip(pivot_b) {
                *x -= factor * p;
            }
        }
    }
    Some(
        (0..n)
            .map(|i| [b[i][0] / a[i][i], b[i][1] / a[i][i], b[i][2] / a[i][i]])
            .collect(),
    )
}

impl DiffusionModel {
    /// The model's latent → RGB projection, fitted to its own autoencoder on first use (a few
    /// small encodes) and kept.
    pub fn latent_preview(&self) -> Result<&LatentPreview> {
        if let Some(preview) = self.preview.get() {
            return Ok(preview);
        }
        let fitted = self.fit_preview()?;
        Ok(self.preview.get_or_init(|| fitted))
    }

    fn fit_preview(&self) -> Result<LatentPreview> {
        let mut samples = Vec::new();
        for colour in COLOURS {
            let patch = image::RgbImage::from_pixel(PATCH, PATCH, image::Rgb(colour));
            let pixels = self.image_to_pixels(&patch)?;
            let (mean, _) = self.encode_pixels(&pixels)?;
            let latents = self.scale_latents(&mean)?.to_dtype(DType::F32)?;
            let (_, _, h, w) = latents.dims4()?;
            let planes: Vec<Vec<f32>> = latents.squeeze(0)?.flatten_from(1)?.to_vec2()?;
            let rgb = colour.map(|v| f32::from(v) / 255.0);
            samples
                .extend((0..h * w).map(|p| (planes.iter().map(|plane| plane[p]).collect(), rgb)));
        }
        LatentPreview::fit(&samples).ok_or_else(|| {
            crate::DiffusionError::InvalidParams(
                "the autoencoder maps different colours to the same latents".to_owned(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LatentPreview;
    use candle_core::{Device, Tensor};

    #[test]
    fn the_fit_recovers_a_linear_map_and_projects_with_it() {
        // latent = M · rgb + noise-free offset: the fit inverts it exactly.
        let m = [
            [0.8f32, -0.2, 0.1],
            [0.1, 0.9, -0.3],
            [-0.4, 0.2, 0.7],
            [0.3, 0.3, 0.3],
        ];
        let offset = [0.05f32, -0.1, 0.2, 0.0];
        let mut samples = Vec::new();
        for r in 0..4 {
            for g in 0..4 {
                for b in 0..4 {
                    let rgb = [r as f32 / 3.0, g as f32 / 3.0, b as f32 / 3.0];
                    let latent: Vec<f32> = (0..4)
                        .map(|k| m[k][0] * rgb[0] + m[k][1] * rgb[1] + m[k][2] * rgb[2] + offset[k])
                        .collect();
                    samples.push((latent, rgb));
                }
            }
        }
        let fit = LatentPreview::fit(&samples).expect("a fit");
        let (latent, rgb) = &samples[37];
        let t = Tensor::from_vec(latent.clone(), (1, 4, 1, 1), &Device::Cpu).expect("tensor");
        let image = fit.project(&t).expect("project");
        let got = image.get_pixel(0, 0).0;
        for c in 0..3 {
            let want = (rgb[c] * 255.0).round() as i32;
            assert!((i32::from(got[c]) - want).abs() <= 1, "{got:?} vs {rgb:?}");
        }
        assert!(LatentPreview::fit(&[]).is_none());
    }
}
