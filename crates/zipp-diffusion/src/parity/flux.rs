//! The FLUX fixtures (`flux-schnell`): the same stage-by-stage comparison with diffusers'
//! `FluxPipeline` — both tokenizers, CLIP's pooled output, T5's hidden states, the position
//! ids, the flow-matching sigmas, every step's transformer input, velocity and Euler step, the
//! unpacked VAE input, the decode and the image — then the whole pipeline end to end.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::{
    ids_diff, max_abs_diff, postprocess, relative_diff, sigma_diff, Fixture, Report, Result,
    StageResult, Tolerance, RELATIVE,
};
use crate::{FluxModel, LoadOptions};

/// Checks a FLUX fixture (already read into `fx`) whose model is in `dir/model`.
pub(super) fn check(
    dir: &Path,
    fx: &Fixture,
    case: String,
    prompt: &str,
    device: &Device,
    tol: Tolerance,
) -> Result<Report> {
    let device = device.clone();
    let mut model = FluxModel::load_with(&dir.join("model"), &device, &LoadOptions::default())?;
    let max_len = fx.num("max_sequence_length")? as usize;
    model.set_max_sequence_length(max_len)?;
    let steps = fx.num("num_inference_steps")? as u32;
    let width = fx.num("width")? as u32;
    let height = fx.num("height")? as u32;
    let guidance = fx.num("guidance_scale")?;
    let mut stages = Vec::new();
    let mut push = |name: &str, max_diff: f64, tolerance: f64| {
        stages.push(StageResult {
            name: name.to_string(),
            max_diff,
            tolerance,
        })
    };

    let (clip_ids, t5_ids) = model.token_ids(prompt)?;
    push(
        "clip_input_ids",
        ids_diff(&clip_ids, fx.get("clip_input_ids")?)?,
        0.0,
    );
    push(
        "t5_input_ids",
        ids_diff(&t5_ids, fx.get("t5_input_ids")?)?,
        0.0,
    );

    let cond = model.encode_prompt(prompt)?;
    push(
        "pooled_prompt_embeds",
        max_abs_diff(&cond.pooled, &fx.f32("pooled_prompt_embeds")?)?,
        tol.stage,
    );
    push(
        "prompt_embeds",
        max_abs_diff(&cond.t5, &fx.f32("prompt_embeds")?)?,
        tol.stage,
    );
    let (h, w) = ((height / 8) as usize, (width / 8) as usize);
    let image_ids = model.image_ids(h, w)?;
    push(
        "latent_image_ids",
        max_abs_diff(&image_ids, &fx.f32("latent_image_ids")?)?,
        0.0,
    );
    let text_ids = Tensor::zeros((max_len, 3), DType::F32, &device)?;
    push(
        "text_ids",
        max_abs_diff(&text_ids, &fx.f32("text_ids")?)?,
        0.0,
    );

    let sigmas = model.sigmas(steps, width, height);
    push("sigmas", sigma_diff(&sigmas, fx.get("sigmas")?)?, RELATIVE);
    let timesteps: Vec<f64> = sigmas[..sigmas.len() - 1]
        .iter()
        .map(|s| s * 1000.0)
        .collect();
    push(
        "timesteps",
        relative_diff(&timesteps, fx.get("timesteps")?)?,
        RELATIVE,
    );

    let ref_cond = crate::FluxConditioning {
        t5: fx.f32("prompt_embeds")?,
        pooled: fx.f32("pooled_prompt_embeds")?,
    };
    let mut prev = fx.f32("latents_init")?;
    for i in 0..steps as usize {
        let t_ref: Vec<f32> = fx
            .f32(&format!("transformer_timestep_{i}"))?
            .flatten_all()?
            .to_vec1()?;
        push(
            &format!("transformer_timestep_{i}"),
            t_ref
                .first()
                .map_or(f64::INFINITY, |&t| (sigmas[i] - f64::from(t)).abs()),
            RELATIVE,
        );
        push(
            &format!("transformer_in_{i}"),
            max_abs_diff(&prev, &fx.f32(&format!("transformer_in_{i}"))?)?,
            tol.stage,
        );
        let ref_in = fx.f32(&format!("transformer_in_{i}"))?;
        let v = model.predict(&ref_in, &image_ids, sigmas[i], &ref_cond, guidance)?;
        let name = format!("noise_pred_{i}");
        push(&name, max_abs_diff(&v, &fx.f32(&name)?)?, tol.stage);
        let next = (&ref_in + (fx.f32(&name)? * (sigmas[i + 1] - sigmas[i]))?)?;
        let name = format!("latents_{i}");
        push(&name, max_abs_diff(&next, &fx.f32(&name)?)?, tol.stage);
        prev = fx.f32(&name)?;
    }

    let latents_final = fx.f32("latents_final")?;
    let vae_in = crate::flux::unpack(&latents_final, h, w)?.affine(
        1.0 / fx.num("vae_scaling_factor")?,
        fx.num("vae_shift_factor")?,
    )?;
    push(
        "vae_in",
        max_abs_diff(&vae_in, &fx.f32("vae_in")?)?,
        tol.stage,
    );
    let decoded = model.decode_packed(&latents_final, width, height)?;
    push(
        "decoded",
        max_abs_diff(&decoded, &fx.f32("decoded")?)?,
        tol.stage,
    );
    let image = postprocess(&fx.f32("decoded")?)?;
    push("image", max_abs_diff(&image, &fx.f32("image")?)?, tol.image);

    // End to end: ours from the prompt and diffusers' starting noise.
    let mut latents = fx.f32("latents_init")?;
    for i in 0..steps as usize {
        let v = model.predict(&latents, &image_ids, sigmas[i], &cond, guidance)?;
        latents = (latents + (v * (sigmas[i + 1] - sigmas[i]))?)?;
    }
    let e2e = tol.stage * fx.max_abs("latents_final").max(1.0);
    push(
        "e2e:latents_final",
        max_abs_diff(&latents, &latents_final)?,
        e2e,
    );
    let image = postprocess(&model.decode_packed(&latents, width, height)?)?;
    push(
        "e2e:image",
        max_abs_diff(&image, &fx.f32("image")?)?,
        tol.image,
    );
    Ok(Report { case, stages })
}
