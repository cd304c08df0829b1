//! The baselines a sceptic tries first, none of which learns anything:
//!
//! - **counts**: link prediction and posting by channel popularity (posts and reactions in the
//!   training graph); every member is the community's mean image, so taste recovery ranks
//!   the most popular taste first for everyone.
//! - **reply partners' mean image**: a member with images is their mean image; one without is
//!   the mean image of their reply partners who have images, else the community's mean (the
//!   most popular taste). Channels are the sum of their posters' vectors; link prediction and
//!   posting by cosine.
//! - **label propagation**: image vectors spread over the whole training graph (members,
//!   channels and roles; every edge once, both ways): each round every node becomes the mean
//!   of its neighbours, and members with images are clamped back to their own mean image.
//!   After [`LP_ROUNDS`] rounds a cold-start member is what their channels, roles and partners
//!   add up to. Link prediction and posting by cosine of member and channel vectors.

use std::time::Instant;

use super::{
    cold_precision_at_3, recall, scored_row, Context, EvalRow, COUNTS, LABEL_PROP, NEIGHBOURS,
};
use crate::graph::EdgeType;
use crate::metrics::cosine;

/// Rounds of label propagation (two hops reach a member's channel-mates; more spread further).
pub const LP_ROUNDS: usize = 10;

/// The mean of the training graph's member mean images (zeros without any).
fn community_mean(means: &[Option<Vec<f32>>]) -> Vec<f32> {
    let dim = means.iter().flatten().map(Vec::len).next().unwrap_or(0);
    let mut sum = vec![0f32; dim];
    let mut n = 0f32;
    for v in means.iter().flatten() {
        sum.iter_mut().zip(v).for_each(|(a, b)| *a += b);
        n += 1.0;
    }
    sum.iter_mut().for_each(|a| *a /= n.max(1.0));
    sum
}

/// A row whose members and channels live in image space: link prediction and posting by
/// cosine of member and channel vectors, R@k and taste recovery by the member vectors.
pub(super) fn image_space_row(
    ctx: &Context,
    name: &str,
    members: &[Option<Vec<f32>>],
    channels: &[Vec<f32>],
    started: Instant,
) -> EvalRow {
    let fit_s = started.elapsed().as_secs_f32();
    let score = |m: u32, c: u32| {
        members[m as usize]
            .as_ref()
            .map_or(0.0, |v| cosine(v, &channels[c as usize]))
    };
    scored_row(
        ctx,
        name,
        &score,
        Some(recall(ctx, members)),
        cold_precision_at_3(ctx, members, &ctx.centroids()),
        fit_s,
    )
}

/// The sum of the vectors of each channel's training posters (see [`image_space_row`]).
pub(super) fn poster_sums(ctx: &Context, members: &[Option<Vec<f32>>]) -> Vec<Vec<f32>> {
    let dim = members.iter().flatten().map(Vec::len).next().unwrap_or(0);
    let mut channel = vec![vec![0f32; dim]; ctx.train_graph().channels.len()];
    for &(m, c) in &ctx.split.train_pos {
        if let Some(v) = &members[m as usize] {
            channel[c as usize]
                .iter_mut()
                .zip(v)
                .for_each(|(a, b)| *a += b);
        }
    }
    channel
}

/// Channel popularity for link prediction and posting; the community's mean image for
/// everyone.
pub(super) fn counts(ctx: &Context) -> EvalRow {
    let started = Instant::now();
    let mean = community_mean(&ctx.train_graph().mean_images());
    let members: Vec<Option<Vec<f32>>> = vec![Some(mean); ctx.train_graph().members.len()];
    let popularity = ctx.posting.popularity();
    scored_row(
        ctx,
        COUNTS,
        &|_, c| popularity[c as usize],
        Some(recall(ctx, &members)),
        cold_precision_at_3(ctx, &members, &ctx.centroids()),
        started.elapsed().as_secs_f32(),
    )
}

/// Own mean image, else the reply partners' mean image, else the community's.
pub(super) fn neighbours(ctx: &Context) -> EvalRow {
    let started = Instant::now();
    let g = ctx.train_graph();
    let means = g.mean_images();
    let fallback = community_mean(&means);
    let mut partner_sum: Vec<Option<Vec<f32>>> = vec![None; g.members.len()];
    for e in g.edges.iter().filter(|e| e.edge_type == EdgeType::Replied) {
        for (me, other) in [(e.src, e.dst), (e.dst, e.src)] {
            if let Some(v) = &means[other as usize] {
                let s = partner_sum[me as usize].get_or_insert_with(|| vec![0.0; v.len()]);
                s.iter_mut().zip(v).for_each(|(a, b)| *a += b);
            }
        }
    }
    let members: Vec<Option<Vec<f32>>> = means
        .iter()
        .zip(partner_sum)
        .map(|(own, partners)| Some(own.clone().or(partners).unwrap_or(fallback.clone())))
        .collect();
    let channels = poster_sums(ctx, &members);
    image_space_row(ctx, NEIGHBOURS, &members, &channels, started)
}

/// Image vectors propagated over the whole training graph (see the module docs).
pub(super) fn label_propagation(ctx: &Context) -> EvalRow {
    let started = Instant::now();
    let g = ctx.train_graph();
    let means = g.mean_images();
    let (nm, nc) = (g.members.len(), g.channels.len());
    let n = nm + nc + g.roles.len();
    let dim = means.iter().flatten().map(Vec::len).next().unwrap_or(0);
    let node = |t: crate::graph::NodeType, i: u32| match t {
        crate::graph::NodeType::Member => i as usize,
        crate::graph::NodeType::Channel => nm + i as usize,
        crate::graph::NodeType::Role => nm + nc + i as usize,
    };
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &g.edges {
        let (ts, td) = e.edge_type.endpoints();
        let (a, b) = (node(ts, e.src), node(td, e.dst));
        adjacency[a].push(b);
        adjacency[b].push(a);
    }
    let clamp = |x: &mut Vec<Vec<f32>>| {
        for (m, v) in means.iter().enumerate() {
            if let Some(v) = v {
                x[m].clone_from(v);
            }
        }
    };
    let mut x = vec![vec![0f32; dim]; n];
    clamp(&mut x);
    for _ in 0..LP_ROUNDS {
        let mut next = vec![vec![0f32; dim]; n];
        for (v, out) in next.iter_mut().enumerate() {
            for &u in &adjacency[v] {
                out.iter_mut().zip(&x[u]).for_each(|(a, b)| *a += b);
            }
            let d = adjacency[v].len().max(1) as f32;
            out.iter_mut().for_each(|a| *a /= d);
        }
        x = next;
        clamp(&mut x);
    }
    let members: Vec<Option<Vec<f32>>> = x[..nm]
        .iter()
        .map(|v| v.iter().any(|&a| a != 0.0).then(|| v.clone()))
        .collect();
    let channels = x[nm..nm + nc].to_vec();
    image_space_row(ctx, LABEL_PROP, &members, &channels, started)
}
