//! The message-passing graph in PyTorch Geometric's conventions, compiled once for the kernels.
//!
//! PyG's `GATConv`/`GATv2Conv` take an `edge_index` whose row 0 is the source `j` and row 1 the
//! target `i` (messages flow `j → i`), drop every explicit self loop and append exactly one loop
//! per node at the end. [`EdgeIndex`] reproduces that edge list ("PyG order": the kept input
//! edges in their input order, then the loops `(n, n)` for `n = 0..N`) and also stores it
//! sorted by target (CSR, what the softmax and the aggregation iterate) and sorted by source
//! (CSC, what the backward pass into source features iterates), with the permutations between
//! the orders. Kernels produce per-edge values (logits, attention) in CSR order; the
//! permutations map them back to PyG order when a caller reports them.
//!
//! Both sorts are stable counting sorts, so within one target the edges keep PyG order and the
//! floating-point summation order is deterministic.

use std::sync::Arc;

use candle_core::{bail, DType, Device, Result, Tensor};

/// Topology arrays shared (via `Arc`) between an [`EdgeIndex`] and the custom ops that hold it.
#[derive(Debug)]
pub(super) struct Topology {
    /// Number of nodes `N`.
    pub(super) num_nodes: usize,
    /// CSR row pointer over targets, `N + 1` entries: target `i` owns slots
    /// `row_ptr[i]..row_ptr[i + 1]`.
    pub(super) row_ptr: Vec<usize>,
    /// Source node of each CSR slot.
    pub(super) csr_src: Vec<u32>,
    /// Target node of each CSR slot (redundant with `row_ptr`, kept for the naive path).
    pub(super) csr_dst: Vec<u32>,
    /// CSC pointer over sources, `N + 1` entries.
    pub(super) col_ptr: Vec<usize>,
    /// Target node of each CSC slot.
    pub(super) csc_dst: Vec<u32>,
    /// CSR slot of each CSC slot, i.e. where that edge's per-edge values live.
    pub(super) csc_edge: Vec<u32>,
}

impl Topology {
    /// Number of edges `M` after self-loop handling.
    pub(super) fn num_edges(&self) -> usize {
        self.csr_src.len()
    }
}

/// A graph prepared for the GAT layers: PyG's self-loop handling plus CSR/CSC layouts.
///
/// Cheap to clone (the arrays are shared).
#[derive(Clone, Debug)]
pub struct EdgeIndex {
    topo: Arc<Topology>,
    num_input_edges: usize,
    self_loops_added: bool,
    /// For each kept input edge (the first `M - N` PyG-order edges, or all `M` without loops):
    /// its index in the caller's edge list.
    kept: Vec<u32>,
    /// Incoming kept edges per node, for the `fill_value = 'mean'` loop attributes.
    in_count: Vec<u32>,
    /// `csr_to_pyg[slot]` = PyG-order position of the edge stored in CSR `slot`.
    csr_to_pyg: Vec<u32>,
    /// `pyg_to_csr[p]` = CSR slot of the PyG-order edge `p`.
    pyg_to_csr: Vec<u32>,
}

impl EdgeIndex {
    /// Builds the graph from parallel `src`/`dst` lists over `num_nodes` nodes.
    ///
    /// With `add_self_loops` (PyG's default for GAT layers) explicit self loops are removed and
    /// one loop per node is appended; without it the edges are used exactly as given, which is
    /// what PyG does with `add_self_loops=False`. Duplicate edges are kept (PyG keeps them).
    pub fn new(num_nodes: usize, src: &[u32], dst: &[u32], add_self_loops: bool) -> Result<Self> {
        if src.len() != dst.len() {
            bail!("edge list: {} sources but {} targets", src.len(), dst.len());
        }
        if u32::try_from(num_nodes).is_err() {
            bail!("edge list: {num_nodes} nodes exceed the u32 index range");
        }
        if let Some((k, (&s, &d))) = src
            .iter()
            .zip(dst)
            .enumerate()
            .find(|(_, (&s, &d))| s as usize >= num_nodes || d as usize >= num_nodes)
        {
            bail!("edge {k} ({s} -> {d}) refers to a node outside 0..{num_nodes}");
        }
        let kept: Vec<u32> = (0..src.len())
            .filter(|&k| !add_self_loops || src[k] != dst[k])
            .map(|k| k as u32)
            .collect();
        let loops = if add_self_loops { num_nodes } else { 0 };
        let m = kept.len() + loops;
        if u32::try_from(m).is_err() {
            bail!("edge list: {m} edges exceed the u32 index range");
        }
        // PyG-order endpoints: kept input edges, then the loops.
        let pyg_src = kept.iter().map(|&k| src[k as usize]).chain(0..loops as u32);
        let pyg_dst: Vec<u32> = kept
            .iter()
            .map(|&k| dst[k as usize])
            .chain(0..loops as u32)
            .collect();

        let mut in_count = vec![0u32; num_nodes];
        for &k in &kept {
            in_count[dst[k as usize] as usize] += 1;
        }
        // Stable counting sort by target.
        let row_ptr = prefix_sum(num_nodes, pyg_dst.iter().copied());
        let mut next = row_ptr.clone();
        let mut csr_src = vec![0u32; m];
        let mut csr_dst = vec![0u32; m];
        let mut csr_to_pyg = vec![0u32; m];
        let mut pyg_to_csr = vec![0u32; m];
        for (p, (s, &d)) in pyg_src.zip(&pyg_dst).enumerate() {
            let slot = next[d as usize];
            next[d as usize] += 1;
            csr_src[slot] = s;
            csr_dst[slot] = d;
            csr_to_pyg[slot] = p as u32;
            pyg_to_csr[p] = slot as u32;
        }
        // Stable counting sort of the CSR slots by source.
        let col_ptr = prefix_sum(num_nodes, csr_src.iter().copied());
        let mut next = col_ptr.clone();
        let mut csc_dst = vec![0u32; m];
        let mut csc_edge = vec![0u32; m];
        for (slot, (&s, &d)) in csr_src.iter().zip(&csr_dst).enumerate() {
            let q = next[s as usize];
            next[s as usize] += 1;
            csc_dst[q] = d;
            csc_edge[q] = slot as u32;
        }
        Ok(Self {
            topo: Arc::new(Topology {
                num_nodes,
                row_ptr,
                csr_src,
                csr_dst,
                col_ptr,
                csc_dst,
                csc_edge,
            }),
            num_input_edges: src.len(),
            self_loops_added: add_self_loops,
            kept,
            in_count,
            csr_to_pyg,
            pyg_to_csr,
        })
    }

    /// Like [`EdgeIndex::new`] for `i64` lists (PyG's dtype); negative indices are an error.
    pub fn from_i64(
        num_nodes: usize,
        src: &[i64],
        dst: &[i64],
        add_self_loops: bool,
    ) -> Result<Self> {
        let conv = |v: &[i64], what: &str| -> Result<Vec<u32>> {
            v.iter()
                .enumerate()
                .map(|(k, &x)| {
                    u32::try_from(x).map_err(|_| {
                        candle_core::Error::Msg(format!("edge {k}: {what} index {x} is invalid"))
                    })
                })
                .collect()
        };
        Self::new(
            num_nodes,
            &conv(src, "source")?,
            &conv(dst, "target")?,
            add_self_loops,
        )
    }

    /// Builds the graph from a PyG `edge_index` tensor `[2, E]` (`i64` or `u32`).
    pub fn from_tensor(
        edge_index: &Tensor,
        num_nodes: usize,
        add_self_loops: bool,
    ) -> Result<Self> {
        let (two, _) = edge_index.dims2()?;
        if two != 2 {
            bail!(
                "edge_index must have shape [2, E], got {:?}",
                edge_index.dims()
            );
        }
        match edge_index.dtype() {
            DType::I64 => {
                let v = edge_index.to_vec2::<i64>()?;
                Self::from_i64(num_nodes, &v[0], &v[1], add_self_loops)
            }
            DType::U32 => {
                let v = edge_index.to_vec2::<u32>()?;
                Self::new(num_nodes, &v[0], &v[1], add_self_loops)
            }
            dt => bail!("edge_index must be i64 or u32, got {dt:?}"),
        }
    }

    /// Number of nodes `N`.
    pub fn num_nodes(&self) -> usize {
        self.topo.num_nodes
    }

    /// Number of message-passing edges `M` (after removing and appending self loops).
    pub fn num_edges(&self) -> usize {
        self.topo.num_edges()
    }

    /// Number of edges in the caller's original list.
    pub fn num_input_edges(&self) -> usize {
        self.num_input_edges
    }

    /// Whether self loops were replaced PyG-style (see [`EdgeIndex::new`]).
    pub fn self_loops_added(&self) -> bool {
        self.self_loops_added
    }

    /// The `M` edges in PyG order as `(sources, targets)`; row `p` of a reported attention
    /// tensor belongs to edge `p` here (PyG's `return_attention_weights` edge index).
    pub fn pyg_edges(&self) -> (Vec<u32>, Vec<u32>) {
        let t = &self.topo;
        let mut src = vec![0u32; t.num_edges()];
        let mut dst = vec![0u32; t.num_edges()];
        for (slot, &p) in self.csr_to_pyg.iter().enumerate() {
            src[p as usize] = t.csr_src[slot];
            dst[p as usize] = t.csr_dst[slot];
        }
        (src, dst)
    }

    /// CSR row pointer over targets (`N + 1` entries).
    pub fn row_ptr(&self) -> &[usize] {
        &self.topo.row_ptr
    }

    /// Source node of each CSR slot.
    pub fn csr_src(&self) -> &[u32] {
        &self.topo.csr_src
    }

    /// `csr_to_pyg()[slot]` = PyG-order position of the edge in CSR `slot`.
    pub fn csr_to_pyg(&self) -> &[u32] {
        &self.csr_to_pyg
    }

    pub(super) fn topology(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// Reorders a per-edge tensor `[M, ...]` from CSR order (what the kernels produce) to PyG
    /// order. Differentiable.
    pub fn csr_to_pyg_order(&self, per_edge_csr: &Tensor) -> Result<Tensor> {
        let idx = u32_tensor(&self.pyg_to_csr, per_edge_csr.device())?;
        per_edge_csr.index_select(&idx, 0)
    }

    /// Turns the caller's edge features `[E, D]` (one row per input edge, input order) into
    /// the kernels' `[M, D]` in CSR order, dropping the rows of removed self loops and giving
    /// each appended loop the mean of its node's incoming edge features (zeros when it has
    /// none), i.e. PyG's `fill_value='mean'`. Differentiable with respect to `edge_attr`.
    pub fn edge_attr_csr(&self, edge_attr: &Tensor) -> Result<Tensor> {
        let (e, d) = edge_attr.dims2()?;
        if e != self.num_input_edges {
            bail!(
                "edge_attr has {e} rows but the graph was built from {} edges",
                self.num_input_edges
            );
        }
        let dev = edge_attr.device();
        let kept = edge_attr.index_select(&u32_tensor(&self.kept, dev)?, 0)?;
        let pyg = if self.self_loops_added {
            let n = self.num_nodes();
            // Kept edges are the first PyG-order edges.
            let kept_dst: Vec<u32> = self.pyg_to_csr[..self.kept.len()]
                .iter()
                .map(|&slot| self.topo.csr_dst[slot as usize])
                .collect();
            let sums = Tensor::zeros((n, d), edge_attr.dtype(), dev)?.index_add(
                &u32_tensor(&kept_dst, dev)?,
                &kept,
                0,
            )?;
            let counts: Vec<f64> = self.in_count.iter().map(|&c| c.max(1) as f64).collect();
            let counts = Tensor::from_vec(counts, (n, 1), dev)?.to_dtype(edge_attr.dtype())?;
            Tensor::cat(&[&kept, &sums.broadcast_div(&counts)?], 0)?
        } else {
            kept
        };
        pyg.index_select(&u32_tensor(&self.csr_to_pyg, dev)?, 0)
    }
}

/// `N + 1` exclusive prefix sums of the counts of `keys` (all `< n`).
fn prefix_sum(n: usize, keys: impl Iterator<Item = u32>) -> Vec<usize> {
    let mut ptr = vec![0usize; n + 1];
    for k in keys {
        ptr[k as usize + 1] += 1;
    }
    for i in 0..n {
        ptr[i + 1] += ptr[i];
    }
    ptr
}

/// A 1-D `u32` index tensor on `dev`.
pub(super) fn u32_tensor(v: &[u32], dev: &Device) -> Result<Tensor> {
    Tensor::from_slice(v, v.len(), dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_self_loops_in_pyg_order() -> Result<()> {
        // 0->1, 1->1 (explicit loop, dropped), 2->1, 1->0, 0->1 (duplicate, kept)
        let g = EdgeIndex::new(3, &[0, 1, 2, 1, 0], &[1, 1, 1, 0, 1], true)?;
        assert_eq!(g.num_edges(), 4 + 3);
        let (s, d) = g.pyg_edges();
        assert_eq!(s, vec![0, 2, 1, 0, 0, 1, 2]);
        assert_eq!(d, vec![1, 1, 0, 1, 0, 1, 2]);
        // CSR: target 0 gets [1->0, loop], target 1 gets [0->1, 2->1, 0->1, loop], target 2 [loop]
        assert_eq!(g.row_ptr(), &[0, 2, 6, 7]);
        assert_eq!(g.csr_src(), &[1, 0, 0, 2, 0, 1, 2]);
        let t = g.topology();
        // CSC slots point back at CSR slots with the same endpoints.
        for j in 0..3 {
            for q in t.col_ptr[j]..t.col_ptr[j + 1] {
                let slot = t.csc_edge[q] as usize;
                assert_eq!(t.csr_src[slot] as usize, j);
                assert_eq!(t.csr_dst[slot], t.csc_dst[q]);
            }
        }
        Ok(())
    }

    #[test]
    fn keeps_edges_without_loop_handling() -> Result<()> {
        let g = EdgeIndex::new(2, &[0, 1, 1], &[1, 1, 0], false)?;
        assert_eq!(g.num_edges(), 3);
        assert_eq!(g.pyg_edges(), (vec![0, 1, 1], vec![1, 1, 0]));
        Ok(())
    }

    #[test]
    fn rejects_bad_indices() {
        let e = EdgeIndex::new(2, &[0, 2], &[1, 0], true).unwrap_err();
        assert!(e.to_string().contains("edge 1"), "{e}");
        let e = EdgeIndex::from_i64(2, &[0, -1], &[1, 0], true).unwrap_err();
        assert!(e.to_string().contains("-1"), "{e}");
        assert!(EdgeIndex::new(2, &[0], &[1, 0], true).is_err());
    }

    #[test]
    fn loop_edge_attr_is_mean_of_incoming() -> Result<()> {
        let g = EdgeIndex::new(3, &[0, 2, 1, 1], &[1, 1, 1, 0], true)?;
        let ea = Tensor::new(
            &[[1f32, 10.], [3., 30.], [99., 99.], [5., 50.]],
            &Device::Cpu,
        )?;
        let csr = g.edge_attr_csr(&ea)?;
        let pyg = g.csr_to_pyg_order(&csr)?.to_vec2::<f32>()?;
        // kept: 0->1, 2->1, 1->0; loops: node 0 mean [5,50], node 1 mean [2,20], node 2 zeros
        let want = vec![
            vec![1., 10.],
            vec![3., 30.],
            vec![5., 50.],
            vec![5., 50.],
            vec![2., 20.],
            vec![0., 0.],
        ];
        assert_eq!(pyg, want);
        Ok(())
    }
}
