//! Pipeline layout: which layers each of `pp` stages holds. Layers are split as evenly as
//! integers allow, the extra layers going to the first stages because the last stage also holds
//! the output head; MoE models' leading dense layers are the first layers (docs/methodology.md §7).

/// The layers one stage holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stage {
    /// Leading dense layers in this stage.
    pub dense_layers: f64,
    /// MoE (or, for a dense model, ordinary) layers in this stage.
    pub moe_layers: f64,
    /// Holds the input embedding.
    pub first: bool,
    /// Holds the output head.
    pub last: bool,
}

/// Stage `s` of `pp` for a model of `layers` layers whose first `dense_layers` are dense.
pub fn stage(layers: u64, dense_layers: u64, pp: u64, s: u64) -> Stage {
    let base = layers / pp;
    let rem = layers % pp;
    let start = s * base + s.min(rem);
    let count = base + u64::from(s < rem);
    let end = start + count;
    let dense = dense_layers.min(end).saturating_sub(start);
    Stage {
        dense_layers: dense as f64,
        moe_layers: (count - dense) as f64,
        first: s == 0,
        last: s + 1 == pp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_cover_every_layer_once() {
        for (layers, dense, pp) in [(120, 0, 16), (61, 3, 8), (32, 0, 1), (61, 3, 61), (7, 7, 3)] {
            let (mut d, mut m) = (0.0, 0.0);
            for s in 0..pp {
                let st = stage(layers, dense, pp, s);
                d += st.dense_layers;
                m += st.moe_layers;
            }
            assert!((d - dense as f64).abs() < 1e-9 && (d + m - layers as f64).abs() < 1e-9);
        }
        crate::testutil::assert_close(stage(120, 0, 16, 0).moe_layers, 8.0, 0.0);
        crate::testutil::assert_close(stage(120, 0, 16, 15).moe_layers, 7.0, 0.0);
    }
}
