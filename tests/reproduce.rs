//! `reproduce`: every claim the issue lists has a row, nothing is typed in, and
//! docs/seed-claims.md is current.

use gpt4calc::reproduce::claims;

fn value(cs: &[gpt4calc::reproduce::Claim], id: &str) -> f64 {
    cs.iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no claim {id}"))
        .computed_value
}

#[test]
fn every_listed_claim_has_a_row() {
    let cs = claims(&[]).unwrap();
    for id in [
        "total-params",
        "layers",
        "expert-params",
        "attention-params",
        "active-params",
        "flops-per-token",
        "dense-flops-per-token",
        "training-flops",
        "training-days",
        "training-mfu",
        "training-cost",
        "h100-days",
        "h100-cost",
        "tokens-per-expert",
        "training-weights-per-gpu",
        "inference-fp16-per-gpu",
        "inference-fp8-per-gpu",
        "runs-on-a100-40g",
        "dense-1t-33-tok-s",
        "dense-1t-utilisation",
        "ffn-limit",
        "reading-speed-low",
        "reading-speed-high",
        "h100-fp8-flops",
        "h100-bandwidth",
        "intensity-256",
        "intensity-512",
        "kv-cache-3tb",
        "experts-at-4k",
        "experts-at-8",
        "ffn-vs-davinci",
        "cost-vs-davinci",
        "price-a100",
        "price-h100",
        "mqa-8k",
        "mqa-32k",
        "speculation-tokens",
        "speculation-batch",
        "continuous-batching",
        "vision-io",
    ] {
        let c = cs
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no claim {id}"));
        assert!(c.verdict == "reproduced" || c.verdict == "differs");
        assert!(
            c.verdict == "reproduced" || !c.explanation.is_empty(),
            "{id} differs without a reason"
        );
    }
    // The headline numbers reproduce.
    for id in [
        "total-params",
        "active-params",
        "training-flops",
        "training-days",
        "h100-cost",
        "inference-fp16-per-gpu",
    ] {
        assert_eq!(
            cs.iter().find(|c| c.id == id).unwrap().verdict,
            "reproduced",
            "{id}"
        );
    }
}

#[test]
fn computed_values_follow_the_inputs() {
    // No computed value is typed in: change the model through the library and the values move.
    let base = claims(&[]).unwrap();
    let set: Vec<gpt4calc::presets::Override> = ["model.experts=32", "gpu.memory_bw_tb_s=6.7"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let moved = claims(&set).unwrap();
    let ratio = |id: &str| value(&moved, id) / value(&base, id);
    assert!(
        ratio("total-params") > 1.9,
        "32 experts double the expert parameters"
    );
    assert!(
        (ratio("active-params") - 1.0).abs() < 1e-3,
        "top-2 of 32 activates as many (only the router grows)"
    );
    assert!((ratio("tokens-per-expert") - 0.5).abs() < 1e-9);
    assert!(
        ratio("dense-1t-33-tok-s") > 1.5,
        "twice the bandwidth, faster decode"
    );
    assert!(ratio("experts-at-4k") < 0.6);
}

#[test]
fn seed_claims_doc_is_current() {
    let want = gpt4calc::report::claims::markdown(&claims(&[]).unwrap());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/seed-claims.md");
    let have = std::fs::read_to_string(path).expect("docs/seed-claims.md exists");
    assert!(
        have == want,
        "docs/seed-claims.md is stale: run `cargo run --release -- reproduce --format markdown > docs/seed-claims.md`"
    );
}
