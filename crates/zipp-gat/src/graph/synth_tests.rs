//! Tests for the synthetic community generator (included from `synth.rs` as its `tests` module).

use super::*;
use crate::graph::edge_features;
use crate::graph::io::{load, save, GraphIoError, GRAPH_FILE, TRUTH_FILE};

/// A small community so the whole suite stays well under two seconds.
fn small() -> SynthConfig {
    SynthConfig {
        n_members: 300,
        n_tastes: 6,
        n_channels: 18,
        n_roles: 8,
        image_dim: 32,
        seed: 7,
        ..SynthConfig::default()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn same_seed_same_community_other_seed_differs() {
    let a = generate(&small());
    let b = generate(&small());
    assert_eq!(a, b);
    let c = generate(&SynthConfig { seed: 8, ..small() });
    assert_ne!(a.0, c.0);
}

#[test]
fn shapes_and_indices_are_consistent() {
    let cfg = small();
    let (g, t) = generate(&cfg);
    assert_eq!(g.members.len(), cfg.n_members);
    assert_eq!(g.channels.len(), cfg.n_channels);
    assert_eq!(g.roles.len(), cfg.n_roles);
    assert_eq!(t.tastes.len(), cfg.n_tastes);
    assert_eq!(t.member_mixture.len(), cfg.n_members);
    for taste in &t.tastes {
        assert!((4..=6).contains(&taste.descriptors.len()));
        assert!((dot(&taste.centroid, &taste.centroid) - 1.0).abs() < 1e-4);
    }
    for mix in &t.member_mixture {
        assert!((1..=3).contains(&mix.len()));
        assert!((mix.iter().map(|&(_, w)| w).sum::<f32>() - 1.0).abs() < 1e-4);
    }
    let names: std::collections::BTreeSet<_> = g.channels.iter().map(|c| &c.name).collect();
    assert_eq!(names.len(), g.channels.len(), "channel names are unique");
    for e in &g.edges {
        let (s, d) = e.edge_type.endpoints();
        let len = |n| match n {
            crate::graph::NodeType::Member => g.members.len(),
            crate::graph::NodeType::Channel => g.channels.len(),
            crate::graph::NodeType::Role => g.roles.len(),
        };
        assert!(
            (e.src as usize) < len(s) && (e.dst as usize) < len(d),
            "{e:?}"
        );
        assert!(e.count >= 1 && e.last_seen_days >= 0.0);
        if e.edge_type == EdgeType::Replied {
            assert!(e.src < e.dst);
        }
        let f = edge_features(e);
        assert_eq!(f[e.edge_type.index()], 1.0);
    }
    for img in &g.images {
        assert_eq!(img.embedding.len(), cfg.image_dim);
    }
}

#[test]
fn shares_are_respected() {
    let cfg = small();
    let (g, t) = generate(&cfg);
    assert_eq!(t.cold_start.len(), 60);
    assert_eq!(t.sparse.len(), 30);
    for &m in &t.cold_start {
        assert!(
            g.images.iter().all(|i| i.member != m),
            "cold member {m} has images"
        );
    }
    for &m in &t.sparse {
        let d = g.member_degree(m);
        assert!((1..=2).contains(&d), "sparse member {m} has {d} edges");
    }
    // Everyone else has images.
    for m in 0..cfg.n_members as u32 {
        if !t.cold_start.contains(&m) {
            assert!(g.mean_image(m).is_some());
        }
    }
}

#[test]
fn nearest_centroid_of_mean_image_recovers_a_planted_taste() {
    let (g, t) = generate(&small());
    let (mut hit, mut total) = (0, 0);
    for m in 0..g.members.len() as u32 {
        let Some(mean) = g.mean_image(m) else {
            continue;
        };
        let best = (0..t.tastes.len())
            .max_by(|&a, &b| {
                dot(&mean, &t.tastes[a].centroid).total_cmp(&dot(&mean, &t.tastes[b].centroid))
            })
            .expect("tastes exist");
        total += 1;
        hit += usize::from(t.has_taste(m, best));
    }
    let rate = hit as f32 / total as f32;
    assert!(rate >= 0.8, "baseline recovered {rate}");
}

#[test]
fn members_mostly_post_in_channels_of_their_tastes() {
    let (g, t) = generate(&small());
    let (mut own, mut all) = (0u64, 0u64);
    for e in g.edges.iter().filter(|e| e.edge_type == EdgeType::Posted) {
        all += u64::from(e.count);
        if t.has_taste(e.src, t.channel_taste[e.dst as usize]) {
            own += u64::from(e.count);
        }
    }
    let share = own as f64 / all as f64;
    assert!(share >= 0.7, "in-taste posting share {share}");
}

#[test]
fn replies_and_roles_follow_taste() {
    let (g, t) = generate(&small());
    let replies: Vec<_> = g
        .edges
        .iter()
        .filter(|e| e.edge_type == EdgeType::Replied)
        .collect();
    assert!(!replies.is_empty());
    let shared = replies
        .iter()
        .filter(|e| {
            t.member_mixture[e.src as usize]
                .iter()
                .any(|&(x, _)| t.has_taste(e.dst, x))
        })
        .count();
    assert!(shared as f32 / replies.len() as f32 >= 0.6);
    let roles: Vec<_> = g
        .edges
        .iter()
        .filter(|e| e.edge_type == EdgeType::HasRole)
        .collect();
    assert!(!roles.is_empty());
    let dominant = roles
        .iter()
        .filter(|e| t.dominant_taste(e.src) == Some(t.role_taste[e.dst as usize]))
        .count();
    assert!(dominant as f32 / roles.len() as f32 >= 0.7);
}

#[test]
fn many_tastes_and_degenerate_configs_do_not_panic() {
    let (_, t) = generate(&SynthConfig {
        n_members: 50,
        n_tastes: 20,
        n_channels: 3,
        n_roles: 0,
        image_dim: 0,
        ..small()
    });
    let all: std::collections::BTreeSet<_> = t.tastes.iter().map(|x| &x.descriptors).collect();
    assert_eq!(all.len(), 20, "repeated themes stay distinguishable");
    let (g, _) = generate(&SynthConfig {
        n_members: 0,
        n_channels: 0,
        ..small()
    });
    assert!(g.edges.is_empty());
}

#[test]
fn gaussian_has_unit_moments() {
    let mut rng = StdRng::seed_from_u64(1);
    let xs: Vec<f32> = (0..20_000).map(|_| gaussian(&mut rng)).collect();
    let mean = xs.iter().sum::<f32>() / xs.len() as f32;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "{mean} {var}"
    );
    let ps: Vec<u32> = (0..20_000).map(|_| poisson(&mut rng, 6.0)).collect();
    let pm = ps.iter().sum::<u32>() as f32 / ps.len() as f32;
    assert!((pm - 6.0).abs() < 0.1, "{pm}");
}

#[test]
fn save_load_round_trip() {
    let (g, t) = generate(&small());
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("community");
    save(&sub, &g, &t).expect("save");
    let (g2, t2) = load(&sub).expect("load");
    assert_eq!(g, g2);
    assert_eq!(t, t2);
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = load(dir.path()).expect_err("missing");
    assert!(err.to_string().contains(GRAPH_FILE), "{err}");

    let (g, t) = generate(&SynthConfig {
        n_members: 5,
        ..small()
    });
    save(dir.path(), &g, &t).expect("save");
    std::fs::write(dir.path().join(TRUTH_FILE), "{not json").expect("write");
    let err = load(dir.path()).expect_err("corrupt");
    assert!(matches!(err, GraphIoError::Json { .. }));
    assert!(err.to_string().contains(TRUTH_FILE), "{err}");

    std::fs::remove_file(dir.path().join(TRUTH_FILE)).expect("rm");
    let err = load(dir.path()).expect_err("missing truth");
    assert!(err.to_string().contains(TRUTH_FILE), "{err}");
}

#[test]
fn generic_channel_names_change_only_the_names() {
    let plain = generate(&small());
    let generic = generate(&SynthConfig {
        generic_channel_share: 0.5,
        ..small()
    });
    assert_eq!(plain.1, generic.1, "same truth");
    assert_eq!(plain.0.edges, generic.0.edges);
    assert_eq!(plain.0.images, generic.0.images);
    let renamed: Vec<usize> = (0..plain.0.channels.len())
        .filter(|&c| plain.0.channels[c] != generic.0.channels[c])
        .collect();
    assert_eq!(renamed.len(), plain.0.channels.len() / 2);
    for c in renamed {
        let ch = &generic.0.channels[c];
        assert!(ch.name.starts_with("general-"), "{ch:?}");
        for taste in &generic.1.tastes {
            for d in &taste.descriptors {
                assert!(!ch.topic.contains(d.as_str()), "{ch:?} mentions {d}");
            }
        }
    }
}

/// The hard community at a small size, for the knob tests.
fn hard() -> (Graph, GroundTruth, SynthConfig) {
    let cfg = SynthConfig {
        n_members: 800,
        image_dim: 16,
        ..SynthConfig::hard(5)
    };
    let (g, t) = generate(&cfg);
    (g, t, cfg)
}

#[test]
fn hard_community_has_untyped_busy_channels_and_generic_roles() {
    let (g, t, cfg) = hard();
    assert_eq!(g.channels.len(), cfg.n_channels + cfg.untyped_channels);
    assert_eq!(t.channel_taste.len(), cfg.n_channels);
    assert_eq!(t.channel_taste_of(cfg.n_channels as u32), None);
    assert_eq!(g.channels[cfg.n_channels].name, "general");
    assert_eq!(g.roles.len(), cfg.n_roles + cfg.generic_roles);
    assert_eq!(t.role_taste_of(cfg.n_roles as u32), None);
    // Untyped channels are the busiest: #general gets more activity than any themed channel.
    let mut activity = vec![0u32; g.channels.len()];
    for e in &g.edges {
        if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
            activity[e.dst as usize] += e.count;
        }
    }
    let busiest_themed = activity[..cfg.n_channels]
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    assert!(activity[cfg.n_channels] > busiest_themed, "{activity:?}");
    // Three themed channels in four say nothing about their taste.
    let generic = g.channels[..cfg.n_channels]
        .iter()
        .filter(|c| c.name.starts_with("general-"))
        .count();
    assert_eq!(generic, 18);
}

#[test]
fn hard_cold_start_members_have_a_few_interactions_and_receive_replies() {
    let (g, t, cfg) = hard();
    assert_eq!(t.cold_start.len(), 320);
    let mut own = vec![0u32; g.members.len()];
    let mut replied = vec![false; g.members.len()];
    for e in &g.edges {
        match e.edge_type {
            EdgeType::Posted | EdgeType::Reacted => own[e.src as usize] += e.count,
            EdgeType::Replied => {
                replied[e.src as usize] = true;
                replied[e.dst as usize] = true;
            }
            EdgeType::HasRole => {}
        }
    }
    let most = cfg.cold_start_interactions.expect("hard sets it");
    let mut with_replies = 0;
    for &m in &t.cold_start {
        if !t.sparse.contains(&m) {
            assert!(
                (1..=most).contains(&own[m as usize]),
                "member {m}: {}",
                own[m as usize]
            );
        }
        assert!(g.images.iter().all(|i| i.member != m));
        with_replies += usize::from(replied[m as usize]);
    }
    assert!(
        with_replies * 2 > t.cold_start.len(),
        "most cold-start members are replied to ({with_replies})"
    );
}

#[test]
fn hard_replies_are_homophilous_and_noise_members_follow_no_taste() {
    let (g, t, cfg) = hard();
    let share_of = |filter: &dyn Fn(u32) -> bool| {
        let (mut same, mut all) = (0, 0);
        for e in g.edges.iter().filter(|e| e.edge_type == EdgeType::Replied) {
            if filter(e.src) && filter(e.dst) {
                all += 1;
                let shared = t.member_mixture[e.src as usize]
                    .iter()
                    .any(|&(x, _)| t.has_taste(e.dst, x));
                same += usize::from(shared);
            }
        }
        same as f32 / all.max(1) as f32
    };
    let homophilous = share_of(&|m| !t.is_noise(m));
    // Two random members share a taste about a third of the time with 8 tastes.
    assert!(homophilous > 0.7, "{homophilous}");
    assert_eq!(
        t.noise_members.len(),
        (cfg.noise_member_share * cfg.n_members as f32).round() as usize
    );
    // A noise member posts in its tastes' channels no more than by popularity.
    let on_taste = |members: &dyn Fn(u32) -> bool| {
        let (mut hit, mut all) = (0u32, 0u32);
        for e in g.edges.iter().filter(|e| e.edge_type == EdgeType::Posted) {
            if members(e.src) {
                all += e.count;
                if t.channel_taste_of(e.dst)
                    .is_some_and(|x| t.has_taste(e.src, x))
                {
                    hit += e.count;
                }
            }
        }
        hit as f32 / all.max(1) as f32
    };
    let (noisy, tasteful) = (on_taste(&|m| t.is_noise(m)), on_taste(&|m| !t.is_noise(m)));
    assert!(noisy + 0.2 < tasteful, "noise {noisy} vs others {tasteful}");
}

#[test]
fn every_member_has_a_future_window_drawn_apart_from_the_graph() {
    let (g, t) = generate(&small());
    assert_eq!(t.future_posts.len(), g.members.len());
    for posts in &t.future_posts {
        assert!(!posts.is_empty());
        assert!(posts.windows(2).all(|w| w[0] < w[1]));
        assert!(posts.iter().all(|&c| (c as usize) < g.channels.len()));
    }
    // The future window has its own stream: without it the graph is the same.
    let (without, t0) = generate(&SynthConfig {
        future_posts: 0.0,
        ..small()
    });
    assert_eq!(without, g);
    assert!(t0.future_posts.iter().all(Vec::is_empty));
}
