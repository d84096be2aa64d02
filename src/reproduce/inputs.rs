//! The inputs `reproduce` computes from besides the presets: the operating points the article
//! itself states (with its words), and the few documented figures from elsewhere (with their
//! sources). Every number a claim is computed from is a preset field or one of these; none is
//! typed into a claim. `--set article.NAME=VALUE` or `--set source.NAME=VALUE` changes one.

macro_rules! inputs {
    ($($name:ident = $value:expr, $unit:literal, $from:literal;)*) => {
        /// The article's stated inputs and the documented figures, by name.
        #[derive(Clone, Debug)]
        pub struct Inputs {
            $(#[doc = $from] pub $name: f64,)*
        }
        impl Default for Inputs {
            fn default() -> Self {
                Inputs { $($name: $value,)* }
            }
        }
        impl Inputs {
            /// Every input: (name, unit, where it comes from: the article's words or a source).
            pub const LIST: &'static [(&'static str, &'static str, &'static str)] =
                &[$((stringify!($name), $unit, $from),)*];
            /// One input by name.
            pub fn get(&self, name: &str) -> Option<f64> {
                match name {
                    $(stringify!($name) => Some(self.$name),)*
                    _ => None,
                }
            }
            /// Set one input by name; false if there is none of that name.
            pub fn set(&mut self, name: &str, value: f64) -> bool {
                match name {
                    $(stringify!($name) => { self.$name = value; true })*
                    _ => false,
                }
            }
        }
    };
}

inputs! {
    // The article's own operating points and figures it states as givens.
    words_per_min_average = 250.0, "words/min", "article: \"Humans on average read at ~250 words per minute\"";
    words_per_min_fast = 1000.0, "words/min", "article: \"some reach as high as ~1,000 words per minute\"";
    reading_tok_s = 8.33, "tokens/s", "article: \"you need to output at least 8.33 tokens per second\" (its human reading speed, used as the serving floor)";
    fast_reading_tok_s = 33.33, "tokens/s", "article: \"more like 33.33 tokens per second to cover all corner cases\"";
    chart_tok_s = 20.0, "tokens/s", "article: \"the FLOPS utilization rate of the 8xH100's at 20 tokens per second\"";
    chart_gpus = 8.0, "GPUs", "article: \"even 8x H100 cannot serve a 1 trillion parameter dense model\"";
    chart_overhead = 2.0, "x", "article: the chart assumes overheads \"are equivalent to parameter reads\" (reads doubled)";
    h100_tb_s = 3.0, "TB/s", "article: \"H100 SXM only has 3TB/s of memory bandwidth\"";
    training_tokens = 13e12, "tokens", "article: \"OpenAI trained GPT-4 on ~13 trillion tokens\"";
    text_epochs = 2.0, "epochs", "article: \"There were 2 epochs for text-based data\"";
    code_epochs = 4.0, "epochs", "article: \"and 4 for code-based data\"";
    refinedweb_tokens = 5e12, "tokens", "article: \"CommonCrawl for RefinedWeb contains ~5 trillion tokens high-quality tokens\"";
    training_seq = 8192.0, "tokens", "article: \"There was an 8k context length (seqlen) for the pre-training phase\"";
    training_batch_tokens = 60e6, "tokens", "article: \"OpenAI was using a batch size of 60 million\"";
    training_tp = 8.0, "GPUs", "article: \"They utilized 8-way tensor parallelism\"";
    training_pp = 15.0, "stages", "article: \"they are using 15-way pipeline parallelism\"";
    training_zero = 1.0, "stage", "article: \"They likely used ZeRo Stage 1\"";
    a100_gpus = 25_000.0, "GPUs", "article: \"on ~25,000 A100s\"";
    a100_usd_per_hour = 1.0, "USD/GPU-hour", "article: \"If their cost in the cloud was about $1 per A100 hour\"";
    a100_mfu_low = 0.32, "fraction", "article: \"at about 32% to 36% MFU\" (lower end)";
    a100_mfu_high = 0.36, "fraction", "article: \"at about 32% to 36% MFU\" (upper end)";
    segment_gbit_s_per_node = 400.0, "Gbit/s", "article: \"those segments are only connected at 200G/400G\" (the upper figure)";
    h100_gpus = 8192.0, "GPUs", "article: \"the pre-training could be done with ~8,192 H100\"";
    h100_usd_per_hour = 2.0, "USD/GPU-hour", "article: \"at $2 per H100 hour\"";
    h100_days = 55.0, "days", "article: \"in ~55 days\" (the H100 run)";
    inference_tp = 8.0, "GPUs", "article: \"The inference is done at 8-way tensor parallelism\"";
    inference_pp = 16.0, "stages", "article: \"and 16-way pipeline parallelism\"";
    inference_nodes_split = 15.0, "nodes", "article: \"it is simple to dive that among 15 different nodes\"";
    small_batch = 8.0, "sequences", "article: \"if there is a batch size of 8\"";
    big_batch = 4096.0, "sequences", "article: \"OpenAI regularly hits a batch size of 4k+\"";
    intensity_batch_low = 256.0, "sequences", "article: \"at batch size of 256 or 512\"";
    intensity_batch_high = 512.0, "sequences", "article: \"at batch size of 256 or 512\"";
    kv_batch = 512.0, "sequences", "article: \"for batch size 512 and context length 2048\"";
    kv_context = 2048.0, "tokens", "article: \"for batch size 512 and context length 2048\"";
    a100_cost_usd_per_1k = 0.0049, "USD per 1k tokens", "article: \"it costs $0.0049 cents per 1k tokens for 128 A100s\" (read as dollars; the price the what-it-takes row aims at)";
    h100_cost_usd_per_1k = 0.0021, "USD per 1k tokens", "article: \"$0.0021 cents per 1k tokens for 128 H100's\" (read as dollars; the price the what-it-takes row aims at)";
    api_usd_per_1k = 0.06, "USD per 1k tokens", "article: \"a low price of only $0.06 per 1,000 tokens\"";
    spec_tokens = 4.0, "tokens", "article: \"likely only using it for sequences of ~4 tokens\"";
    vision_finetune_tokens = 2e12, "tokens", "article: \"It is fine-tuned with another ~2 trillion tokens\"";
    // Documented figures from elsewhere.
    tokens_per_word = 4.0 / 3.0, "tokens/word", "OpenAI, \"What are tokens and how to count them\": one token is about 3/4 of an English word";
    chinchilla_tokens_per_param = 20.0, "tokens/parameter", "Hoffmann et al. 2022 (Chinchilla): compute-optimal training uses about 20 tokens per parameter";
    gpt3_training_tokens = 300e9, "tokens", "Brown et al. 2020, Table D.1: GPT-3 175B trained on 300B tokens";
    gpu_mtbf_hours = 16_384.0 * 54.0 * 24.0 / 419.0, "hours", "Dubey et al. 2024 (Llama 3) §3.3.4: 419 unexpected interruptions in 54 days on 16,384 H100s";
    checkpoint_write_s = 60.0, "s", "`train --checkpoint-write-s` default";
    restart_s = 600.0, "s", "`train --restart-s` default";
    vit_patch = 14.0, "pixels", "Radford et al. 2021 (CLIP ViT-L/14): 14 x 14-pixel patches, one token each";
    image_channels = 3.0, "channels", "RGB, one byte per channel (8-bit images)";
    flamingo_xattn_every = 7.0, "layers", "Alayrac et al. 2022 (Flamingo-80B): a gated cross-attention block before every 7th language-model layer";
    input_len = 2048.0, "tokens", "the tool's default workload (`sweep --input-len`)";
    output_len = 256.0, "tokens", "the tool's default workload (`sweep --output-len`)";
    acceptance = 0.8, "probability", "the tool's default `--acceptance` (Leviathan et al. 2023 report 0.6-0.9)";
}
