//! Tests for training (included from `train.rs`): both batch modes learn, one mini-batch over
//! everything is the full batch, early stopping keeps the best parameters, seeds fix results.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use rand::seq::SliceRandom;

use super::minibatch::sample_batch;
use super::validation::align_auc;
use super::*;
use crate::fixtures::{community, enc_cfg, train_cfg};
use crate::graph::{EdgeType, Graph};
use crate::metrics::{auc, cosine};

/// Baseline without the graph: cosine(member mean image, channel's mean member image over
/// training posts); members without images score 0.
fn baseline_auc(g: &Graph, tc: &TrainConfig) -> f32 {
    let split = split_links(g, tc.val_fraction, tc.seed).expect("split");
    let means = g.mean_images();
    let d = enc_cfg().image_dim;
    let mut chan = vec![vec![0f32; d]; g.channels.len()];
    for &(m, c) in &split.train_pos {
        if let Some(v) = &means[m as usize] {
            chan[c as usize]
                .iter_mut()
                .zip(v)
                .for_each(|(a, b)| *a += b);
        }
    }
    let score = |pairs: &[(u32, u32)]| -> Vec<f32> {
        pairs
            .iter()
            .map(|&(m, c)| match &means[m as usize] {
                Some(v) => cosine(v, &chan[c as usize]),
                None => 0.0,
            })
            .collect()
    };
    auc(&score(&split.val_pos), &score(&split.val_neg))
}

fn check_learns(tc: &TrainConfig, want_mode: BatchMode) {
    let g = community();
    let vm = VarMap::new();
    let t0 = std::time::Instant::now();
    let (_, report) = train(&g, &enc_cfg(), tc, &vm, &Device::Cpu).expect("train");
    let base = baseline_auc(&g, tc);
    eprintln!(
        "{:?}: lp {} -> {}, align {} -> {}, val AUC {} (baseline {base}) in {:?}",
        report.mode,
        report.lp_loss_first,
        report.lp_loss_last,
        report.align_loss_first,
        report.align_loss_last,
        report.val_auc,
        t0.elapsed()
    );
    assert_eq!(report.mode, want_mode);
    assert!(report.lp_loss_last < report.lp_loss_first, "{report:?}");
    assert!(
        report.align_loss_last < report.align_loss_first,
        "{report:?}"
    );
    assert!(report.val_auc > 0.75, "{report:?}");
    assert!(report.val_auc > base, "{report:?} vs baseline {base}");
}

#[test]
fn full_batch_training_reduces_losses_and_beats_the_baseline() {
    check_learns(
        &TrainConfig {
            mode: BatchMode::Auto,
            ..train_cfg()
        },
        BatchMode::Full,
    );
}

#[test]
fn mini_batch_training_reduces_losses_and_beats_the_baseline() {
    check_learns(
        &TrainConfig {
            mode: BatchMode::MiniBatch,
            batch_size: 64,
            fanouts: vec![8, 4],
            epochs: 25,
            ..train_cfg()
        },
        BatchMode::MiniBatch,
    );
}

#[test]
fn auto_mode_switches_to_mini_batch_above_the_threshold() {
    let g = community();
    let gt = GraphTensors::from_graph(&g, 16, 32, &Device::Cpu).expect("tensors");
    let m = gt.edge_index.num_edges();
    let at = |max: usize| {
        resolve_mode(
            &TrainConfig {
                full_batch_max_edges: max,
                ..TrainConfig::default()
            },
            &gt,
        )
    };
    assert_eq!(at(m), BatchMode::Full);
    assert_eq!(at(m - 1), BatchMode::MiniBatch);
    let forced = TrainConfig {
        mode: BatchMode::MiniBatch,
        ..TrainConfig::default()
    };
    assert_eq!(resolve_mode(&forced, &gt), BatchMode::MiniBatch);
}

/// With every member in one batch and fan-outs at least the largest in-degree, the sampled
/// subgraph is the whole computation graph: the loss equals the full-batch loss.
#[test]
fn one_mini_batch_with_full_fanouts_gives_the_full_batch_loss() {
    let g = community();
    let cfg = enc_cfg();
    let tc = train_cfg();
    let dev = Device::Cpu;
    let split = split_links(&g, tc.val_fraction, tc.seed).expect("split");
    let gt = GraphTensors::from_graph(&split.train_graph, cfg.image_dim, cfg.text_dim, &dev)
        .expect("tensors");
    let vm = VarMap::new();
    let model = PersonaEncoder::new(cfg.clone(), VarBuilder::from_varmap(&vm, DType::F32, &dev))
        .expect("model");
    seeded_init(&vm, 5).expect("init");
    let p = Prepared {
        targets: gt.x_member.clone(),
        train_pos: split.train_pos.clone(),
        g: gt,
    };
    let mut rng = StdRng::seed_from_u64(1);
    let neg = sample_negatives(&p.train_pos, p.g.n_channels as u32, &mut rng);
    let (x_member, _) = dropout_inputs(&p, 0.3, &mut rng).expect("dropout");

    let full_g = GraphTensors {
        x_member: x_member.clone(),
        ..p.g.clone()
    };
    let (lp_full, al_full) = batch_loss(
        &model,
        &full_batch(&full_g, &p.train_pos, &neg),
        &p.targets,
        &tc,
    )
    .expect("full loss");

    let sampler = NeighborSampler::new(&p.g);
    let fan = sampler.max_in_degree();
    let mut members: Vec<u32> = (0..p.g.n_members as u32).collect();
    members.shuffle(&mut rng);
    let (sub, pairs) = sample_batch(
        &p,
        &x_member,
        &neg,
        &members,
        &sampler,
        &[fan, fan],
        &mut rng,
    )
    .expect("sample");
    assert_eq!(sub.global.len(), p.g.n_nodes());
    let batch = Batch {
        g: &sub.tensors,
        pairs,
    };
    let (lp_mini, al_mini) = batch_loss(&model, &batch, &p.targets, &tc).expect("mini loss");
    let v = |t: Tensor| t.to_scalar::<f32>().expect("scalar");
    let (lp_full, al_full, lp_mini, al_mini) = (v(lp_full), v(al_full), v(lp_mini), v(al_mini));
    eprintln!("lp {lp_full} vs {lp_mini}, align {al_full} vs {al_mini}");
    assert!(al_full > 0.0);
    assert!((lp_full - lp_mini).abs() < 1e-5 * lp_full.abs().max(1.0));
    assert!((al_full - al_mini).abs() < 1e-5 * al_full.abs().max(1.0));
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let g = community();
    let cfg = enc_cfg();
    let tc = TrainConfig {
        epochs: 60,
        // A learning rate this high overshoots, so validation stops improving early.
        lr: 0.1,
        patience: 3,
        ..train_cfg()
    };
    let dev = Device::Cpu;
    let split = split_links(&g, tc.val_fraction, tc.seed).expect("split");
    let vm = VarMap::new();
    let mut seen = Vec::new();
    let (_, report) =
        train_split(&split, &cfg, &tc, &vm, &dev, &mut |s| seen.push(s.clone())).expect("train");
    assert_eq!(seen, report.history);
    assert!(report.stopped_early, "{report:?}");
    assert_eq!(report.epochs, report.best_epoch + 1 + tc.patience);
    let best = report
        .history
        .iter()
        .map(|s| s.signal)
        .fold(f32::MIN, f32::max);
    let kept = &report.history[report.best_epoch];
    assert_eq!(kept.signal, best);
    assert!(report.signal_left_untrained);
    assert!(best >= report.untrained_signal + SIGNAL_MARGIN);
    assert_eq!(report.val_auc, kept.val_auc);
    assert_eq!(report.val_align_auc, kept.val_align_auc);
    // The varmap holds the best epoch's parameters again: validated on the training graph
    // with the same ImageAlign members held out, they score the kept epoch's signal.
    let gt = GraphTensors::from_graph(&split.train_graph, cfg.image_dim, cfg.text_dim, &dev)
        .expect("tensors");
    let targets = gt.x_member.clone();
    let (gt, val) = hold_out_align(gt, &targets, &tc).expect("hold out");
    assert!(val.is_some(), "λ > 0 holds members out of ImageAlign");
    let now = validate(
        &snapshot(&vm).expect("snapshot"),
        &cfg,
        &gt,
        &split,
        val.as_ref(),
        &dev,
    )
    .expect("validation");
    assert_eq!(now.signal(), best);
}

/// A run whose signal never leaves its untrained value (a learning rate of 0 changes
/// nothing) is never stopped by it and keeps its last epoch.
#[test]
fn a_signal_that_never_leaves_its_untrained_value_stops_nothing() {
    let g = community();
    let tc = TrainConfig {
        epochs: 6,
        lr: 0.0,
        weight_decay: 0.0,
        patience: 2,
        ..train_cfg()
    };
    let (_, report) = train(&g, &enc_cfg(), &tc, &VarMap::new(), &Device::Cpu).expect("train");
    assert!(!report.signal_left_untrained, "{report:?}");
    assert!(!report.stopped_early);
    assert_eq!(report.epochs, 6);
    assert_eq!(report.best_epoch, 5);
    for s in &report.history {
        assert_eq!(s.signal, report.untrained_signal, "{s:?}");
        assert_eq!(s.best_signal, report.untrained_signal);
    }
}

#[test]
fn align_auc_ranks_each_members_own_image() {
    let t = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![-1.0, 0.0]];
    assert_eq!(align_auc(&t, &t), 1.0);
    let flipped: Vec<Vec<f32>> = t.iter().map(|v| v.iter().map(|x| -x).collect()).collect();
    assert!(align_auc(&flipped, &t) < 0.5);
    assert_eq!(align_auc(&[vec![1.0, 0.0]], &[vec![1.0, 0.0]]), 0.5);
}

#[test]
fn supervision_pairs_leave_message_passing_and_the_rest_stay() {
    let g = community();
    let split = split_links(&g, 0.1, 3).expect("split");
    let (passing, sup) = supervision_split(&split, 0.3, 3);
    let expected = (split.train_pos.len() as f64 * 0.3).round() as usize;
    assert_eq!(sup.len(), expected);
    assert!(sup.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    let edges: std::collections::HashSet<(u32, u32)> = passing
        .edges
        .iter()
        .filter(|e| matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted))
        .map(|e| (e.src, e.dst))
        .collect();
    for p in &sup {
        assert!(split.train_pos.contains(p));
        assert!(!edges.contains(p), "{p:?} is scored, so it is not an edge");
    }
    let kept = split.train_pos.iter().filter(|p| !sup.contains(p));
    for p in kept {
        assert!(edges.contains(p), "{p:?} stays for message passing");
    }
    assert_eq!(supervision_split(&split, 0.3, 3).1, sup, "seeded");
    let (all, every) = supervision_split(&split, 0.0, 3);
    assert_eq!(every, split.train_pos);
    assert_eq!(all, split.train_graph);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let g = community();
    let tc = TrainConfig {
        epochs: 3,
        mode: BatchMode::MiniBatch,
        batch_size: 50,
        ..train_cfg()
    };
    let run = |tc: &TrainConfig| {
        let (_, r) = train(&g, &enc_cfg(), tc, &VarMap::new(), &Device::Cpu).expect("train");
        r.history
            .iter()
            .map(|s| (s.lp_loss, s.align_loss, s.val_auc))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(&tc), run(&tc));
    assert_ne!(
        run(&tc),
        run(&TrainConfig {
            seed: 1,
            ..tc.clone()
        })
    );
}

#[test]
fn split_removes_held_out_pairs_from_message_passing() {
    let g = community();
    let s = split_links(&g, 0.1, 3).expect("split");
    assert!(!s.val_pos.is_empty());
    assert!(!s.val_neg.is_empty() && s.val_neg.len() <= s.val_pos.len());
    for e in &s.train_graph.edges {
        if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
            assert!(!s.val_pos.contains(&(e.src, e.dst)), "{e:?} leaked");
        }
    }
    for &(m, c) in &s.val_neg {
        assert!(!g.edges.iter().any(|e| e.src == m
            && e.dst == c
            && matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted)));
    }
}

#[test]
fn bad_mini_batch_settings_are_refused() {
    let g = community();
    for tc in [
        TrainConfig {
            fanouts: vec![10],
            ..train_cfg()
        },
        TrainConfig {
            fanouts: vec![10, 0],
            ..train_cfg()
        },
        TrainConfig {
            batch_size: 0,
            ..train_cfg()
        },
    ] {
        let e = train(&g, &enc_cfg(), &tc, &VarMap::new(), &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("fan-outs"), "{e}");
    }
}

#[test]
fn cold_practice_leaves_dropped_members_a_few_posts_and_everything_else() {
    let g = community();
    let practice = cold::ColdPractice::new(&g, 2);
    let own = |graph: &Graph, m: u32| {
        graph
            .edges
            .iter()
            .filter(|e| e.src == m && matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted))
            .count()
    };
    let busy: Vec<u32> = (0..g.members.len() as u32)
        .filter(|&m| own(&g, m) > 4)
        .take(5)
        .collect();
    assert_eq!(busy.len(), 5);
    let thin = practice.thin(&g, &busy, &mut StdRng::seed_from_u64(1));
    for m in 0..g.members.len() as u32 {
        let expected = if busy.contains(&m) { 2 } else { own(&g, m) };
        assert_eq!(own(&thin, m), expected, "member {m}");
    }
    let others = |graph: &Graph| {
        graph
            .edges
            .iter()
            .filter(|e| matches!(e.edge_type, EdgeType::Replied | EdgeType::HasRole))
            .count()
    };
    assert_eq!(others(&thin), others(&g), "roles and replies stay");
    assert_eq!(practice.thin(&g, &[], &mut StdRng::seed_from_u64(1)), g);
}
