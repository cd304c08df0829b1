//! The safety checker against diffusers: a tiny random checker saved by diffusers'
//! `StableDiffusionSafetyChecker.save_pretrained` (transformers 5 key names) and what diffusers
//! computed for three images (`tests/fixtures/safety/make_safety_fixture.py`): the projected
//! embeddings, both cosine similarities, the scores with the special-care adjustment, and the
//! verdicts (image 0 flagged through a special-care match, image 1 through one concept, image 2
//! not).

#![allow(clippy::expect_used, reason = "a test: it fails loudly")]

use std::path::Path;

use candle_core::Device;
use zipp_clip::safety::SafetyChecker;

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn rows(value: &serde_json::Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect()
        })
        .collect()
}

#[test]
fn matches_diffusers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/safety/tiny");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let checker = SafetyChecker::load(&dir.join("model"), &Device::Cpu).expect("load");
    let images: Vec<_> = (0..3)
        .map(|i| image::open(dir.join(format!("image{i}.png"))).expect("image"))
        .collect();
    let embeds = checker
        .image_embeds(&images)
        .expect("embeds")
        .to_vec2::<f32>()
        .expect("rows");
    let diff = max_diff(&embeds, &rows(&expected["image_embeds"]));
    println!("safety checker vs diffusers: image_embeds max |diff| {diff:.2e}");
    assert!(diff < 1e-4, "image_embeds differ by {diff}");

    let verdicts = checker.check(&images).expect("check");
    let flagged: Vec<bool> = verdicts.iter().map(|v| v.nsfw).collect();
    let want: Vec<bool> = expected["has_nsfw"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|v| v.as_bool().expect("bool"))
        .collect();
    assert_eq!(flagged, want);
    assert_eq!(want, [true, true, false], "the fixture's known verdicts");
    for (i, verdict) in verdicts.iter().enumerate() {
        let scores = &expected["scores"][i];
        let special = rows(&serde_json::json!([scores["special"]]));
        let concept = rows(&serde_json::json!([scores["concept"]]));
        // Scores are rounded to 3 decimals: equal, or one step apart at a rounding edge.
        assert!(
            max_diff(std::slice::from_ref(&verdict.special_scores), &special) <= 1.001e-3,
            "{i}"
        );
        assert!(
            max_diff(std::slice::from_ref(&verdict.concept_scores), &concept) <= 1.001e-3,
            "{i}"
        );
    }
}
