//! Communication under the α–β model: `t = α + bytes_on_wire / achievable_bandwidth`, with the
//! NCCL bus-bandwidth factors (nccl-tests doc/PERFORMANCE.md): all-reduce moves `2(n−1)/n` of
//! the message per rank, all-to-all `(n−1)/n`, a point-to-point send moves it once (docs/methodology.md §6).

use crate::hardware::{Hardware, Link};

/// The link a ring collective (all-reduce, all-gather, reduce-scatter) over `group` consecutive
/// GPUs runs on: the scale-up fabric inside a node. Across nodes NCCL runs one ring per NIC, so
/// a ring over whole nodes moves data at the node's NICs together, `scaleup_gpus ×` one NIC,
/// capped by the scale-up fabric. (An all-to-all does not get this: every GPU's off-node
/// traffic leaves through its own NIC; see `all_to_all`.)
pub fn ring_link(hw: &Hardware, group: u64) -> Link {
    if group <= hw.scaleup_gpus {
        hw.scaleup
    } else {
        Link {
            bytes_per_s: (hw.scaleout.bytes_per_s * hw.scaleup_gpus as f64)
                .min(hw.scaleup.bytes_per_s),
            latency_s: hw.scaleout.latency_s,
        }
    }
}

/// The link between pipeline stages (or between replicas) that sit `span` GPUs apart: the
/// scale-up fabric while the span fits one node, otherwise each GPU's own NIC.
pub fn pipeline_link(hw: &Hardware, span: u64) -> Link {
    if span <= hw.scaleup_gpus {
        hw.scaleup
    } else {
        hw.scaleout
    }
}

/// An all-reduce of `bytes` per rank over `n` consecutive GPUs (tensor parallelism).
/// Inside one node: the α–β ring over the scale-up link, times the preset's measured NCCL
/// shape at that message size (the shape of the smallest measured group that holds `n` GPUs).
/// Across nodes, where nothing was measured: NCCL's own cost model over the nodes' NICs
/// (`all_reduce_across_nodes_s`), whose latency grows with the ring's steps. It never undercuts
/// the measured all-reduce of the same message over one full node, whose steps a group spanning
/// nodes runs too.
pub fn tp_all_reduce_s(hw: &Hardware, bytes: f64, n: u64) -> f64 {
    if n > hw.scaleup_gpus {
        let nodes = n.div_ceil(hw.scaleup_gpus);
        let bus = ring_link(hw, n).bytes_per_s;
        let across = all_reduce_across_nodes_s(bytes, n, nodes, bus);
        return across.max(tp_all_reduce_s(hw, bytes, hw.scaleup_gpus));
    }
    if n <= 1 {
        return 0.0;
    }
    hw.all_reduce_in_node_s(n, bytes)
}

/// A tensor-parallel all-reduce in a serving runtime: the faster of NCCL (`tp_all_reduce_s`) and
/// the runtime's own all-reduce kernel, where the preset measured one for a group that large inside
/// one node (TensorRT-LLM, SGLang and vLLM reduce small messages with one-shot kernels over
/// NVLink, in 3–6 µs where NCCL starts up in 16–25 µs; docs/methodology.md §6). Training keeps
/// NCCL (Megatron-LM's and NeMo's tensor-parallel collectives are NCCL's).
pub fn serving_tp_all_reduce_s(hw: &Hardware, bytes: f64, n: u64) -> f64 {
    if n <= 1 || n > hw.scaleup_gpus {
        return tp_all_reduce_s(hw, bytes, n);
    }
    match hw.custom_all_reduce_s(n, bytes) {
        // Below NCCL's least time at any size, the runtime's kernel wins without pricing NCCL.
        Some(custom) if custom <= hw.all_reduce_in_node_floor_s(n) => custom,
        Some(custom) => custom.min(tp_all_reduce_s(hw, bytes, n)),
        None => tp_all_reduce_s(hw, bytes, n),
    }
}

/// Ring all-reduce of `bytes` per rank over `n` ranks joined by `link`; 0 for one rank.
pub fn all_reduce_s(bytes: f64, n: u64, link: Link) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    link.latency_s + 2.0 * (n - 1.0) / n * bytes / link.bytes_per_s
}

/// All-to-all of `bytes` per rank over `n` ranks joined by `link`: each rank keeps `1/n` of its
/// data and sends the rest; 0 for one rank.
pub fn all_to_all_s(bytes: f64, n: u64, link: Link) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    link.latency_s + (n - 1.0) / n * bytes / link.bytes_per_s
}

/// Ring all-gather (or reduce-scatter) whose result is `total_bytes` per rank, over `n` ranks
/// joined by `link`: each rank receives (or sends) `(n−1)/n` of it; 0 for one rank.
pub fn all_gather_s(total_bytes: f64, n: u64, link: Link) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    link.latency_s + (n - 1.0) / n * total_bytes / link.bytes_per_s
}

/// One NCCL algorithm/protocol pair in NCCL's own cost model (src/graph/tuning.cc,
/// `ncclTopoTuneModel`, 2.18–2.21): a fixed latency, a latency per step inside a node (NVLink)
/// and per step across the network, and the share of the bus bandwidth the protocol reaches.
struct NcclProtocol {
    tree: bool,
    /// Row of `TREE_CORRECTION` (0 LL, 1 LL128, 2 Simple).
    protocol: usize,
    base_us: f64,
    nvlink_step_us: f64,
    net_step_us: f64,
    bandwidth_factor: f64,
}

const fn nccl(tree: bool, protocol: usize, us: [f64; 3], bandwidth_factor: f64) -> NcclProtocol {
    NcclProtocol {
        tree,
        protocol,
        base_us: us[0],
        nvlink_step_us: us[1],
        net_step_us: us[2],
        bandwidth_factor,
    }
}

/// NCCL's constants for the ring and the tree, each in its LL, LL128 and Simple protocol:
/// `[baseLat, hwLat[NVLINK], hwLat[NET]]` in µs, and the bus-bandwidth refinements (ring LL
/// ¼, LL128 0.92; tree 0.92, LL ÷ 3.8, LL128 × 120/128). A ring step inside a node of a
/// multi-node ring costs at least NCCL's 1 µs network post overhead (3 µs for Simple).
const NCCL_ALL_REDUCE: [NcclProtocol; 6] = [
    nccl(false, 0, [6.6, 1.0, 2.7], 0.25),
    nccl(false, 1, [14.0, 1.9, 4.0], 0.92),
    nccl(false, 2, [8.4, 3.4, 14.0], 1.0),
    nccl(true, 0, [6.8, 0.6, 5.0], 0.92 / 3.8),
    nccl(true, 1, [14.0, 1.25, 8.5], 0.92 * 120.0 / 128.0),
    nccl(true, 2, [0.0, 28.0, 28.0], 0.92),
];

/// NCCL's static correction of tree bandwidth at medium sizes (`treeCorrectionFactor`, by
/// protocol, for messages of 64 B · 2^i up to 256 MB); 1 above.
const TREE_CORRECTION: [[f64; 23]; 3] = [
    [
        1.0, 1.0, 1.0, 1.0, 0.9, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6, 0.5, 0.4, 0.4, 0.5, 0.6, 0.7, 0.8,
        0.9, 1.0, 1.0, 1.0, 1.0,
    ],
    [
        1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.8, 0.8, 0.8, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.8, 0.9,
        0.9, 0.9, 0.9, 1.0, 1.0,
    ],
    [
        0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.7, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.6, 0.7, 0.8,
        0.7, 0.7, 0.8, 0.9, 0.9,
    ],
];

/// NCCL's "plateau effect of ring": a Simple ring across nodes takes 1.4 × its modelled
/// latency on Ampere and newer.
const RING_SIMPLE_PLATEAU: f64 = 1.4;

/// An all-reduce of `bytes` per rank over `ranks` GPUs that fill `nodes` nodes, at
/// `bus_bytes_per_s` of bus bandwidth across them, as NCCL's tuner prices it: the fastest of
/// ring and tree in each protocol. A ring pays a step latency for each of its 2(n − 1) steps,
/// 2·nodes of them over the network; a tree pays 2·((n/nodes − 1) NVLink steps + log₂ nodes
/// network steps). A ring moves 2(n − 1)/n of the message per rank; a tree moves twice the
/// message (docs/methodology.md §6). NCCL's tree correction changes by steps with the message
/// size, so the model alone can price a message below a smaller one; a message can be padded, so
/// it is priced at the least time of any size at or above it (the model is increasing between
/// the steps, so the sizes where a step begins are the only others to try).
pub fn all_reduce_across_nodes_s(bytes: f64, ranks: u64, nodes: u64, bus_bytes_per_s: f64) -> f64 {
    let mut t = nccl_all_reduce_s(bytes, ranks, nodes, bus_bytes_per_s);
    let mut step = 128.0;
    for _ in 0..TREE_CORRECTION[0].len() {
        if step > bytes {
            t = t.min(nccl_all_reduce_s(step, ranks, nodes, bus_bytes_per_s));
        }
        step *= 2.0;
    }
    t
}

/// NCCL's tuner model of one all-reduce (see `all_reduce_across_nodes_s`).
fn nccl_all_reduce_s(bytes: f64, ranks: u64, nodes: u64, bus_bytes_per_s: f64) -> f64 {
    if ranks <= 1 {
        return 0.0;
    }
    let (n, k) = (ranks as f64, nodes.max(1) as f64);
    let ring_steps = 2.0 * (n - 1.0);
    let ring_net_steps = if nodes > 1 { 2.0 * k } else { 0.0 }.min(ring_steps);
    let per_node = (n / k).ceil();
    NCCL_ALL_REDUCE
        .iter()
        .map(|p| {
            let bw = bus_bytes_per_s * p.bandwidth_factor;
            let (latency_us, wire_bytes) = if p.tree {
                let steps = (per_node - 1.0) * p.nvlink_step_us + k.log2() * p.net_step_us;
                (p.base_us + 2.0 * steps, 2.0 * bytes)
            } else {
                let steps = (ring_steps - ring_net_steps) * p.nvlink_step_us
                    + ring_net_steps * p.net_step_us;
                (p.base_us + steps, ring_steps / n * bytes)
            };
            let (latency_us, bw) = match (p.tree, p.protocol) {
                (true, row) => (latency_us, bw * tree_correction(row, bytes)),
                (false, 2) if nodes > 1 => (latency_us * RING_SIMPLE_PLATEAU, bw),
                _ => (latency_us, bw),
            };
            crate::units::us_to_s(latency_us) + wire_bytes / bw
        })
        .fold(f64::INFINITY, f64::min)
}

/// `TREE_CORRECTION` for a message of `bytes`: the entry of `⌊log₂(bytes / 64)⌋`.
fn tree_correction(protocol: usize, bytes: f64) -> f64 {
    let row = &TREE_CORRECTION[protocol];
    let i = (bytes / 64.0).max(1.0).log2().floor() as usize;
    row.get(i).copied().unwrap_or(1.0)
}

/// Point-to-point send of `bytes` over `link`.
pub fn p2p_s(bytes: f64, link: Link) -> f64 {
    link.latency_s + bytes / link.bytes_per_s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::{Override, load_gpu};
    use crate::testutil::assert_close;

    fn h100(set: &[&str]) -> Hardware {
        let o: Vec<Override> = set.iter().map(|s| s.parse().unwrap()).collect();
        Hardware::new(&load_gpu("h100", &o).unwrap().gpu)
    }

    #[test]
    fn leaving_the_node_never_makes_an_all_reduce_faster() {
        // Across nodes the NICs are slower than NVLink and every collective pays network
        // latencies, so 16 or 32 GPUs over two or four nodes never beat 8 inside one, for any
        // message from 1 B to 8 GB, on every built-in GPU with 8-GPU nodes. NCCL's generic
        // constants alone would let B200's two nodes (25.3 µs) undercut its measured in-node 2 KB
        // all-reduce (25.7 µs); the floor holds it.
        for (name, _) in crate::presets::GPUS {
            let hw = Hardware::new(&load_gpu(name, &[]).unwrap().gpu);
            if hw.scaleup_gpus != 8 {
                continue;
            }
            for bytes in (0..34).map(|i| 2f64.powi(i)) {
                let inside = tp_all_reduce_s(&hw, bytes, 8);
                for n in [16, 32] {
                    let across = tp_all_reduce_s(&hw, bytes, n);
                    assert!(
                        across >= inside,
                        "{name}, {bytes} B, {n} GPUs: {across} < {inside}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_all_reduce_across_nodes_never_takes_less_time_for_a_larger_message() {
        // NCCL's tree correction steps down at some sizes (0.9 → 0.8 → 0.7 …): priced as is, a
        // 16 KiB all-reduce over 32 GPUs took less than a 15 KiB one, and TTFT fell.
        for (name, _) in crate::presets::GPUS {
            let hw = Hardware::new(&load_gpu(name, &[]).unwrap().gpu);
            for n in [16, 32, 64] {
                let mut prev = 0.0;
                let mut bytes = 16.0;
                while bytes < 4e9 {
                    let t = tp_all_reduce_s(&hw, bytes, n);
                    assert!(t >= prev, "{name}, {n} GPUs, {bytes} B: {t} < {prev}");
                    prev = t;
                    bytes *= 1.07;
                }
            }
        }
    }

    #[test]
    fn what_ifs_on_the_link_still_move_a_shaped_all_reduce() {
        // The measured shape multiplies the α–β time, so a faster NVLink or a lower α still
        // shortens an all-reduce inside the node; across nodes the shape does not apply.
        let (base, fast) = (h100(&[]), h100(&["gpu.node.scaleup_gb_s=900"]));
        let big = 256e6;
        assert!(tp_all_reduce_s(&fast, big, 8) < 0.6 * tp_all_reduce_s(&base, big, 8));
        let low_alpha = h100(&["gpu.overheads.scaleup_latency_us=5"]);
        assert!(tp_all_reduce_s(&low_alpha, 512.0, 8) < 0.5 * tp_all_reduce_s(&base, 512.0, 8));
        let bus = ring_link(&base, 16).bytes_per_s;
        let across = all_reduce_across_nodes_s(big, 16, 2, bus);
        assert_close(tp_all_reduce_s(&base, big, 16), across, 1e-12);
        // A 3-GPU group takes the 4-GPU shape; one GPU needs no collective.
        assert!(tp_all_reduce_s(&base, 1e6, 3) > 0.0);
        assert_close(tp_all_reduce_s(&base, 1e6, 1), 0.0, 1e-12);
    }

    #[test]
    fn a_serving_all_reduce_takes_the_runtime_kernel_inside_a_node_only() {
        // Inside the node: the faster of the measured custom all-reduce and NCCL, never slower
        // than NCCL, and non-decreasing in the message on every built-in GPU. Beyond the largest
        // measured group, across nodes, and on a GPU without a table: NCCL's.
        for (name, _) in crate::presets::GPUS {
            let hw = Hardware::new(&load_gpu(name, &[]).unwrap().gpu);
            for n in [2, 3, 4, 6, 8, 16, 72] {
                let mut prev = 0.0;
                let mut bytes = 16.0;
                while bytes < 4e9 {
                    let (t, nccl) = (
                        serving_tp_all_reduce_s(&hw, bytes, n),
                        tp_all_reduce_s(&hw, bytes, n),
                    );
                    assert!(t <= nccl, "{name}, {n} GPUs, {bytes} B: {t} > NCCL {nccl}");
                    assert!(t >= prev, "{name}, {n} GPUs, {bytes} B: {t} < {prev}");
                    if n > hw.scaleup_gpus || hw.custom_all_reduce_s(n, bytes).is_none() {
                        assert_close(t, nccl, 1e-12);
                    }
                    prev = t;
                    bytes *= 1.07;
                }
            }
        }
        let base = h100(&[]);
        // H100, 8 GPUs, a 14 KB decode message: TensorRT-LLM's one-shot kernel, 3.5 µs measured
        // at 16 KiB (NCCL: 18.3 µs); 3 GPUs take the 4-GPU curve; one GPU needs none.
        assert!(serving_tp_all_reduce_s(&base, 14336.0, 8) < 4e-6);
        assert_eq!(
            base.custom_all_reduce_s(3, 1e4),
            base.custom_all_reduce_s(4, 1e4)
        );
        assert_close(serving_tp_all_reduce_s(&base, 14336.0, 1), 0.0, 1e-12);
        assert!(base.custom_all_reduce_s(16, 1e4).is_none());
    }

    #[test]
    fn gpt4_tp8_decode_all_reduce_on_a100_nvlink() {
        // model-spec §7.1: b = 1, 21.5 KB per all-reduce over 8 GPUs at 0.65 × 300 GB/s and
        // α = 10 µs → 10.2 µs; b = 128, 2.75 MB → 34.7 µs.
        let link = Link {
            bytes_per_s: 0.65 * 300e9,
            latency_s: 10e-6,
        };
        assert_close(all_reduce_s(10752.0 * 2.0, 8, link), 10.2e-6, 0.01);
        assert_close(all_reduce_s(128.0 * 10752.0 * 2.0, 8, link), 34.7e-6, 0.01);
        assert_close(all_reduce_s(1e9, 1, link), 0.0, 1e-12);
    }

    #[test]
    fn mt_nlg_tp32_decode_all_reduce_across_four_a100_nodes() {
        // 256 × 20480 fp16 = 10.49 MB over 32 GPUs in 4 nodes, bus 8 × 25 GB/s × 0.85 = 170
        // GB/s. Hand-computed from NCCL's tuning model: the tree in LL128 is fastest, latency
        // 14 + 2 (7 × 1.25 + 2 × 8.5) = 65.5 µs, 2 × 10.49 MB at 170 × 0.92 × 120/128 × 0.9
        // (correction at 2^17 × 64 B) GB/s = 158.9 µs → 224.4 µs. The ring in LL128 would take
        // 14 + 54 × 1.9 + 8 × 4 = 148.6 µs + 129.9 µs = 278.5 µs.
        let t = all_reduce_across_nodes_s(256.0 * 20480.0 * 2.0, 32, 4, 170e9);
        assert_close(t, 224.4e-6, 1e-3);
    }

    #[test]
    fn across_nodes_small_messages_pay_latency_and_large_ones_the_ring_bandwidth() {
        let bus = 8.0 * 50e9 * 0.85; // 8 × 400 Gb/s NICs
        // GPT-4 TP16 decode at batch 1: 43 KB. The tree in LL: 6.8 + 2 (7 × 0.6 + 5) µs = 25.2
        // µs of latency and 1.5 µs on the wire.
        assert_close(
            all_reduce_across_nodes_s(43008.0, 16, 2, bus),
            26.69e-6,
            1e-3,
        );
        // 1 GB: the Simple ring, 2 × 15/16 × 1 GB / 340 GB/s = 5.515 ms + 1.4 × (8.4 + 26 × 3.4
        // + 4 × 14) µs = 5.729 ms.
        assert_close(all_reduce_across_nodes_s(1e9, 16, 2, bus), 5.7286e-3, 1e-3);
        // Time grows with the message and with the number of nodes; one rank needs nothing.
        let mut last = 0.0;
        for bytes in (0..34).map(|i| 2f64.powi(i)) {
            let t = all_reduce_across_nodes_s(bytes, 32, 4, bus);
            assert!(t >= last, "{bytes} B: {t} < {last}");
            assert!(t > all_reduce_across_nodes_s(bytes, 16, 2, bus));
            last = t;
        }
        assert_close(all_reduce_across_nodes_s(1e9, 1, 1, bus), 0.0, 1e-12);
    }

    #[test]
    fn all_to_all_moves_all_but_the_local_share() {
        // 8 ranks, 8 MB each: 7/8 of it crosses the link at 100 GB/s after α = 10 µs → 80 µs.
        let link = Link {
            bytes_per_s: 100e9,
            latency_s: 10e-6,
        };
        assert_close(all_to_all_s(8e6, 8, link), 80e-6, 1e-9);
        assert_close(all_to_all_s(8e6, 1, link), 0.0, 1e-12);
    }
}
