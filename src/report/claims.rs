//! The `reproduce` report: the article's claims next to the computed values.

use super::{align, human, new_table};
use crate::reproduce::Claim;
use std::fmt::Write;

fn value(x: Option<f64>) -> String {
    x.map_or("—".into(), human)
}

/// "N reproduced, M differ, K inputs echoed (of T rows)".
pub fn counts(claims: &[Claim]) -> String {
    let n = |v: &str| claims.iter().filter(|c| c.verdict == v).count();
    format!(
        "{} rows: {} reproduced, {} differ, {} open, {} echo an input",
        claims.len(),
        n("reproduced"),
        n("differs"),
        n("open"),
        n("input")
    )
}

/// For a terminal: one row a claim, then the explanations of the ones that differ.
pub fn table(claims: &[Claim], width: Option<usize>) -> String {
    let header = ["claim", "article", "computed", "unit", "ratio", "verdict"];
    let mut t = new_table(&header, false);
    for c in claims {
        t.add_row(vec![
            c.id.to_string(),
            value(c.seed_value),
            c.computed_value.map_or("—".into(), human),
            c.unit.to_string(),
            c.ratio.map_or("—".into(), ratio),
            c.verdict.to_string(),
        ]);
    }
    align(&mut t, header.len(), &[0, 3, 5]);
    super::wrap_to(&mut t, width);
    let mut o = format!("{t}\n");
    let _ = writeln!(o, "{}. Where they differ:", counts(claims));
    for c in claims.iter().filter(|c| c.verdict == "differs") {
        let _ = writeln!(o, "  {}: {}", c.id, c.explanation);
    }
    o
}

/// Claims of the article no calculator can check, and why (listed once in docs/seed-claims.md).
pub const OUT_OF_SCOPE: &[(&str, &str)] = &[
    (
        "\"we expect Google, Meta, Anthropic, … to all have models as capable as GPT-4\"; \"Many firms will have the compute resources to train a GPT-4 size model by the end of this year\"",
        "a forecast about other firms",
    ),
    (
        "\"training cost are irrelevant\"; supercomputers \"worth over one hundred billion dollars\"; Meta's $16B a year on the Metaverse, Alexa's $50B, crypto's $100B",
        "finance and opinion: no model input or output",
    ),
    (
        "\"Dense transformers models will not scale further\"; \"it makes sense to train well past Chinchilla optimal for any model that will be deployed\"",
        "a judgement about strategy; the dense-1t and Chinchilla rows give the numbers behind it",
    ),
    (
        "Chinchilla and PaLM trained on ~1.4T and ~0.78T tokens; PaLM 2 on ~5T; \"1,000x more high-quality text tokens out there\"",
        "facts about data sets, not about GPT-4's compute",
    ),
    (
        "\"millions of rows of instruction fine-tuning data from ScaleAI\"; RLHF data",
        "data sets",
    ),
    (
        "the 32k model is a fine-tune of the 8k; the batch was \"gradually ramped up over a number of days\"",
        "training recipe with no number the tool could check",
    ),
    (
        "\"It is possible they used block-level FSDP, or hybrid shared data parallel\"; \"at least some of the clusters are connected at much lower bandwidth\"",
        "possibilities the article does not commit to (fsdp-overhead and segments-allreduce price them)",
    ),
    (
        "9 firms with more H100s than OpenAI; Meta's 100,000 H100s and its >25k-GPU cluster",
        "market facts",
    ),
    (
        "\"Researchers have shown that using 64 to 128 experts achieves better loss than 16 experts\"; more experts are harder to generalise and to converge",
        "model quality, which the tool does not model",
    ),
    (
        "FasterTransformer is \"quite bad\" and TensorRT \"even worse\"; AMD MI300's market",
        "software quality and markets",
    ),
    (
        "OpenAI's routing is \"allegedly quite simple\"; layers are not split across nodes because traffic would be irregular and KV recomputation costly",
        "design rationale with no number (the tool models both layouts: `sweep --ep`)",
    ),
    (
        "OpenAI \"sometimes has very poor utilization\"; clusters are repurposed in troughs to train smaller models",
        "operations the article reports, not derives (offpeak-doubling prices the consequence)",
    ),
    (
        "speculative decoding \"does not degrade model quality at all\"; lowering quality by accepting lower-probability drafts; Bard waits for the whole sequence",
        "model quality and rumour",
    ),
    (
        "a vision encoder similar to Flamingo; GPT-5 trained from scratch on vision, audio; training data of rendered LaTeX, screenshots, YouTube frames with Whisper",
        "architecture rumour and data sets (vision-extra-params prices a Flamingo-style stack)",
    ),
    (
        "hardware vendors \"may find their architecture poorly adapted\" 2-3 years out",
        "a forecast",
    ),
];

/// For docs/seed-claims.md: every claim with its explanation, then the out-of-scope list.
pub fn markdown(claims: &[Claim]) -> String {
    let mut o = String::from(
        "# The GPT-4 article's claims, recomputed\n\n\
         Generated by `gpt4calc reproduce --format markdown`; a test keeps this file current. Each\n\
         checkable claim of D. Patel and G. Wong, \"GPT-4 Architecture, Infrastructure, Training\n\
         Dataset, Costs, Vision, MoE\" (SemiAnalysis, 10 July 2023), in the article's order, is\n\
         recomputed with the calculator's own model at the operating point the article states. A\n\
         ratio is computed / article. The tolerance comes from the article's own precision: \"~\" is\n\
         ±10%, a stated range is that range, a number written without \"~\" is good to half its last\n\
         digit. A row marked `open` hinges on a figure the article does not give (a fleet size,\n\
         a traffic profile): it shows the threshold. Rows marked `input` echo an input (a preset field set to the article's number, or\n\
         the article's own operating point) and are not verdicts. Where the article states an input\n\
         the presets disagree with, the row shows the value under the article's input too.\n\n",
    );
    let _ = writeln!(o, "{}.\n", counts(claims));
    o.push_str("| claim | article | computed | unit | ratio | tolerance | verdict | how, and why it differs |\n|---|---|---|---|---|---|---|---|\n");
    for c in claims {
        let alt = match (&c.article_input, c.computed_with_article_input) {
            (Some(input), Some(v)) => format!(" With {input}: {}.", human(v)),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "| **{}**: {} | {} | {} | {} | {} | {} | {} | {} |",
            super::markdown_cell(c.id),
            super::markdown_cell(c.claim),
            value(c.seed_value),
            c.computed_value.map_or("—".into(), human),
            super::markdown_cell(c.unit),
            c.ratio.map_or("—".into(), ratio),
            c.tolerance,
            c.verdict,
            super::markdown_cell(&format!("{}{}", c.explanation, alt))
        );
    }
    o.push_str(
        "\n## Out of scope\n\nClaims of the article no calculator can check, and why.\n\n| claim | why not |\n|---|---|\n",
    );
    for (claim, why) in OUT_OF_SCOPE {
        let _ = writeln!(o, "| {} | {} |", claim.replace('|', "/"), why);
    }
    o
}

/// computed / article: three decimals, in scientific notation past a million.
fn ratio(r: f64) -> String {
    if r.abs() >= 1e6 {
        format!("{r:.3e}")
    } else {
        format!("{r:.3}")
    }
}
