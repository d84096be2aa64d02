//! Preset registry and loading: the built-in TOML files under presets/ (compiled into the
//! binary), loading from a path, `--set KEY=VALUE` overrides, and one-line parse errors.

use crate::hardware::GpuPreset;
use crate::model::ModelPreset;
use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;
use std::path::Path;

macro_rules! builtin {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../presets/", $dir, "/", $name, ".toml")))),*]
    };
}

/// Built-in model presets: (name, TOML text).
pub const MODELS: &[(&str, &str)] = builtin!("models":
    "gpt4-8k", "gpt4-32k", "gpt3-175b", "dense-1t", "palm-540b", "llama2-70b", "llama3-8b",
    "llama3-70b", "llama3.1-8b", "llama3.1-70b", "llama3-405b", "mixtral-8x7b", "deepseek-v3",
    "qwen3-235b-a22b", "qwen3-30b-a3b", "gpt-oss-120b", "gpt-oss-20b", "llama4-maverick");

/// Built-in GPU presets: (name, TOML text).
pub const GPUS: &[(&str, &str)] = builtin!("gpus": "a100-40g", "a100-80g", "h100", "h800", "h200", "b200", "b300", "gb200-nvl72",
        "gb300-nvl72", "mi300x", "mi325x", "mi355x", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e");

/// Which kind of preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A model preset (`[model]`).
    Model,
    /// A GPU preset (`[gpu]`).
    Gpu,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Gpu => "gpu",
        }
    }
    fn builtins(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Model => MODELS,
            Kind::Gpu => GPUS,
        }
    }
}

/// A `--set [PRESET:]KEY=VALUE` override, parsed.
#[derive(Clone, Debug)]
pub struct Override {
    /// The preset it applies to (`h100` in `h100:gpu.memory_bw_tb_s=4.8`): a preset's `name`,
    /// or the name or path it is loaded by. `None` applies to every loaded preset of its kind.
    pub scope: Option<String>,
    /// Dotted key, e.g. `model.experts` or `gpu.price.usd_per_gpu_hour`.
    pub key: String,
    /// Value as written.
    pub raw: String,
}

/// Longest `--set` key, in bytes.
pub const MAX_SET_KEY_LEN: usize = 200;
/// Most dotted parts of a `--set` key (the deepest preset field has 4: `gpu.fused_moe.bf16.compute`).
pub const MAX_SET_KEY_DEPTH: usize = 8;
/// Longest `--set` value, in bytes.
pub const MAX_SET_VALUE_LEN: usize = 1000;
/// Largest preset or case file, in bytes (4 MiB; the built-in latency suite is just over 1 MiB).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

impl std::str::FromStr for Override {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Quote at most the start of a long argument.
        let shown = crate::limits::clip(s);
        let (key, raw) = s
            .split_once('=')
            .ok_or_else(|| format!("`{shown}`: expected KEY=VALUE, e.g. model.experts=32"))?;
        let (scope, key) = match key.split_once(':') {
            Some((scope, key)) => (Some(scope.trim()), key.trim()),
            None => (None, key.trim()),
        };
        if let Some(scope) = scope {
            if scope.is_empty() {
                return Err(format!(
                    "`{shown}`: the preset before `:` is empty; write PRESET:KEY=VALUE, e.g. h100:gpu.memory_bw_tb_s=4.8"
                ));
            }
            if scope.len() > MAX_SET_KEY_LEN
                || !scope
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                return Err(format!(
                    "`{shown}`: the preset before `:` must be a preset name or path (letters, digits, `-`, `_`, `.`, `/`), e.g. h100:gpu.memory_bw_tb_s=4.8"
                ));
            }
        }
        if key.is_empty() {
            return Err(format!("`{shown}`: the key before `=` is empty"));
        }
        if key.len() > MAX_SET_KEY_LEN {
            return Err(format!(
                "`{shown}`: the key is {} bytes long; keys are at most {MAX_SET_KEY_LEN}, e.g. gpu.efficiency.memory",
                key.len()
            ));
        }
        let depth = key.split('.').count();
        if depth > MAX_SET_KEY_DEPTH {
            return Err(format!(
                "`{shown}`: the key has {depth} dotted parts; keys have at most {MAX_SET_KEY_DEPTH}"
            ));
        }
        if key
            .split('.')
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(format!(
                "`{shown}`: the key must be dotted names of letters, digits and `_`, e.g. model.top_k"
            ));
        }
        if raw.len() > MAX_SET_VALUE_LEN {
            return Err(format!(
                "`{shown}`: the value is {} bytes long; values are at most {MAX_SET_VALUE_LEN}",
                raw.len()
            ));
        }
        if raw.trim().chars().any(char::is_control) {
            return Err(format!(
                "`{shown}`: the value holds a newline or another control character; give one line"
            ));
        }
        Ok(Override {
            scope: scope.map(str::to_string),
            key: key.to_string(),
            raw: raw.trim().to_string(),
        })
    }
}

/// clap's parser for `--set`: its error is our one line, without clap's echo of the whole
/// argument (which can be megabytes long).
#[derive(Clone, Copy, Debug)]
pub struct OverrideParser;

impl clap::builder::TypedValueParser for OverrideParser {
    type Value = Override;
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Override, clap::Error> {
        let fail = |msg: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--set {msg}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| fail("holds bytes that are not UTF-8".into()))?;
        text.parse().map_err(fail)
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.scope {
            Some(scope) => write!(f, "{scope}:{}={}", self.key, self.raw),
            None => write!(f, "{}={}", self.key, self.raw),
        }
    }
}

impl Override {
    /// Whether this override applies to a preset known by any of `names` (its `name` field, the
    /// name or path it was loaded by): always when unscoped.
    pub fn applies_to(&self, names: &[&str]) -> bool {
        self.scope.as_deref().is_none_or(|s| names.contains(&s))
    }
    /// The kind of preset its key sets (`model.` or `gpu.`), if either.
    pub fn kind(&self) -> Option<Kind> {
        match self.key.split('.').next() {
            Some("model") => Some(Kind::Model),
            Some("gpu") => Some(Kind::Gpu),
            _ => None,
        }
    }
}

/// Check that every scoped override names a preset the command loads. `loaded` lists, for each
/// preset loaded, its kind and the names it answers to (its `name` field, the name or path it
/// was given by). A scope that names nothing loaded, or a preset of the other kind, is an error.
pub fn check_scopes(overrides: &[Override], loaded: &[(Kind, Vec<String>)]) -> Result<()> {
    for o in overrides {
        let Some(scope) = o.scope.as_deref() else {
            continue;
        };
        let kind = o.kind().unwrap_or(Kind::Model);
        let same: Vec<&str> = loaded
            .iter()
            .filter(|(k, _)| *k == kind)
            .flat_map(|(_, names)| names.iter().map(String::as_str))
            .collect();
        if same.contains(&scope) {
            continue;
        }
        let other = match kind {
            Kind::Model => Kind::Gpu,
            Kind::Gpu => Kind::Model,
        };
        if other.builtins().iter().any(|(n, _)| *n == scope)
            || loaded
                .iter()
                .any(|(k, names)| *k == other && names.iter().any(|n| n == scope))
        {
            bail!(
                "--set {o}: `{scope}` is a {} preset, but `{}` is a {} field; scope it to a {} preset: {}",
                other.table(),
                o.key,
                kind.table(),
                kind.table(),
                first_names(loaded, kind).join(", ")
            );
        }
        let mut names = first_names(loaded, kind);
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            names.push("none".into());
        }
        let near = nearest(scope, &names.iter().map(String::as_str).collect::<Vec<_>>());
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!("did you mean {}? ", near.join(" or "))
        };
        bail!(
            "--set {o}: no {} preset `{}` is loaded here; {hint}the {} presets loaded: {}",
            kind.table(),
            crate::limits::clip(scope),
            kind.table(),
            names.join(", ")
        );
    }
    Ok(())
}

/// The first name (the `name` field) of each loaded preset of `kind`.
fn first_names(loaded: &[(Kind, Vec<String>)], kind: Kind) -> Vec<String> {
    let mut v: Vec<String> = loaded
        .iter()
        .filter(|(k, _)| *k == kind)
        .filter_map(|(_, names)| names.first().cloned())
        .collect();
    v.dedup();
    v
}

/// Whether a preset argument names a file rather than a built-in preset: it has a directory
/// separator or a `.toml`/`.json` ending, or a file of that name exists.
pub fn looks_like_path(name_or_path: &str) -> bool {
    name_or_path.contains('/')
        || name_or_path.contains('\\')
        || name_or_path.ends_with(".toml")
        || name_or_path.ends_with(".json")
        || Path::new(name_or_path).exists()
}

/// Read a preset's TOML text: a built-in name, or a path to a file. Returns (origin, text).
pub fn read_source(kind: Kind, name_or_path: &str) -> Result<(String, String)> {
    if let Some((_, text)) = kind.builtins().iter().find(|(n, _)| *n == name_or_path) {
        return Ok((
            format!("built-in preset `{name_or_path}`"),
            (*text).to_string(),
        ));
    }
    if looks_like_path(name_or_path) {
        let text = read_file(name_or_path, &format!("{} preset", kind.table()))?;
        // A Hugging Face config.json, recognised by its content: read as the equivalent preset.
        if crate::hf_config::is_json(&text) {
            if kind == Kind::Gpu {
                bail!(
                    "{}: a JSON file (a Hugging Face config.json) describes a model, not a GPU; give it to --preset, or a GPU preset TOML to --gpu",
                    crate::limits::clip(name_or_path)
                );
            }
            let toml = crate::hf_config::import_toml(name_or_path, &text)?;
            return Ok((name_or_path.to_string(), toml));
        }
        // JSON that is not an object (`[]`, `"x"`, `3`) is neither a config.json nor TOML: say
        // so rather than report TOML's syntax error at its first character.
        if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
            bail!(
                "{}: a JSON document that is not an object; a Hugging Face config.json is one JSON object ({{\"model_type\": …}}), a preset is TOML",
                crate::limits::clip(name_or_path)
            );
        }
        return Ok((name_or_path.to_string(), text));
    }
    let names: Vec<&str> = kind.builtins().iter().map(|(n, _)| *n).collect();
    let or_path = if kind == Kind::Model {
        "or give a path to a .toml preset or a Hugging Face config.json"
    } else {
        "or give a path to a .toml preset"
    };
    if name_or_path.trim().is_empty() {
        bail!(
            "a {} preset name is empty: built-in presets: {} ({or_path})",
            kind.table(),
            names.join(", ")
        );
    }
    let near = nearest(name_or_path, &names);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", near.join(" or "))
    };
    bail!(
        "unknown {} preset `{}`: {hint}built-in presets: {} ({or_path})",
        kind.table(),
        crate::limits::clip(name_or_path),
        names.join(", ")
    )
}

/// Read a preset or case file (`what` names it in errors): a regular file of at most 4 MiB of
/// UTF-8. A directory, FIFO, device or socket is refused by its type, before any read.
pub fn read_file(path: &str, what: &str) -> Result<String> {
    use std::io::Read;
    let shown = crate::limits::clip(path);
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {what} file `{shown}`"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        bail!("{what} file `{shown}`: {kind}; give a regular file");
    }
    let too_big = |len: u64| {
        anyhow!(
            "{what} file `{shown}`: {len} bytes; files are at most {MAX_FILE_BYTES} bytes ({} MiB)",
            MAX_FILE_BYTES >> 20
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {what} file `{shown}`"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{what} file `{shown}`: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Load a model preset with the `model.*` overrides applied, validated.
pub fn load_model(name_or_path: &str, overrides: &[Override]) -> Result<ModelPreset> {
    let (origin, text) = read_source(Kind::Model, name_or_path)?;
    load_model_text(&origin, &text, overrides)
}

/// Load a model preset from TOML text (`origin` names it in errors), overrides applied, validated.
pub fn load_model_text(origin: &str, text: &str, overrides: &[Override]) -> Result<ModelPreset> {
    let preset: ModelPreset = load(Kind::Model, origin, text, overrides)?;
    crate::limits::check_name("name", &preset.name).map_err(|e| anyhow!("{origin}: {e}"))?;
    preset
        .model
        .validate()
        .with_context(|| context_for(origin, overrides, Kind::Model))?;
    Ok(preset)
}

/// Load a GPU preset with the `gpu.*` overrides applied, validated.
pub fn load_gpu(name_or_path: &str, overrides: &[Override]) -> Result<GpuPreset> {
    let (origin, text) = read_source(Kind::Gpu, name_or_path)?;
    load_gpu_text(&origin, &text, overrides)
}

/// Load a GPU preset from TOML text (`origin` names it in errors), overrides applied, validated.
pub fn load_gpu_text(origin: &str, text: &str, overrides: &[Override]) -> Result<GpuPreset> {
    let preset: GpuPreset = load(Kind::Gpu, origin, text, overrides)?;
    crate::limits::check_name("name", &preset.name).map_err(|e| anyhow!("{origin}: {e}"))?;
    preset
        .gpu
        .validate()
        .with_context(|| context_for(origin, overrides, Kind::Gpu))?;
    Ok(preset)
}

fn context_for(origin: &str, overrides: &[Override], kind: Kind) -> String {
    let sets: Vec<String> = overrides
        .iter()
        .filter(|o| o.key.starts_with(kind.table()) && o.applies_to(&[given_name(origin)]))
        .map(ToString::to_string)
        .collect();
    if sets.is_empty() {
        origin.to_string()
    } else {
        format!("{origin} with --set {}", sets.join(" --set "))
    }
}

/// Check `--set` overrides that apply to presets chosen later (`validate`'s cases): each must
/// load, alone, into at least one built-in preset of its kind: a known field, the right type, a
/// value in range. The error is the first built-in's (`gpt4-8k` or `a100-40g`).
pub fn check_overrides_alone(overrides: &[Override]) -> Result<()> {
    check_override_prefixes(overrides)?;
    for o in overrides {
        let one = std::slice::from_ref(o);
        let (kind, names) = if o.key.starts_with("model.") {
            (Kind::Model, MODELS)
        } else {
            (Kind::Gpu, GPUS)
        };
        let mut first_err = None;
        // A scoped override is tried on the preset it names (a preset not built in is checked
        // when the cases load it).
        for (name, _) in names.iter().filter(|(n, _)| o.applies_to(&[n])) {
            let loaded = match kind {
                Kind::Model => load_model(name, one).map(drop),
                Kind::Gpu => load_gpu(name, one).map(drop),
            };
            match loaded {
                Ok(()) => {
                    first_err = None;
                    break;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            let why = e.root_cause().to_string();
            if why.starts_with("--set") {
                bail!(why);
            }
            bail!("--set {o}: {why}");
        }
    }
    Ok(())
}

/// Check that every override names a model or GPU field (prefix `model.` or `gpu.`).
pub fn check_override_prefixes(overrides: &[Override]) -> Result<()> {
    for o in overrides {
        if !(o.key.starts_with("model.") || o.key.starts_with("gpu.")) {
            bail!(
                "--set {}: unknown key `{}`; keys start with `model.` (e.g. model.experts) or `gpu.` (e.g. gpu.memory_gib)",
                o.key,
                o.key
            );
        }
    }
    Ok(())
}

fn load<T: DeserializeOwned>(
    kind: Kind,
    origin: &str,
    text: &str,
    overrides: &[Override],
) -> Result<T> {
    let mut value: toml::Table =
        toml::from_str(text).map_err(|e| anyhow!("{}", located_key(origin, text, &e)))?;
    if kind == Kind::Gpu {
        borrow_measured(origin, &mut value)?;
    }
    // Parse once untouched so that an error in the file is blamed on the file, not on --set.
    // Deserialising the text itself locates the error (line, column and key) when the file
    // alone shows it; a borrowed field's absence is not such an error.
    T::deserialize(toml::Value::Table(value.clone())).map_err(|e| {
        match toml::from_str::<T>(text) {
            Err(at) if at.message() == e.message() && at.span().is_some() => {
                anyhow!("{}", located_key(origin, text, &at))
            }
            _ => anyhow!("{origin}: {}", one_line(e.message())),
        }
    })?;
    // A scoped override applies when it names this preset: its `name` field or the path or
    // name it was loaded by (`origin`).
    let name = value
        .get("name")
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let names = [name.as_str(), given_name(origin)];
    let mine: Vec<&Override> = overrides
        .iter()
        .filter(|o| o.key.split('.').next() == Some(kind.table()) && o.applies_to(&names))
        .collect();
    for o in &mine {
        // A key naming a whole table (`gpu.price=5`): name its fields rather than serde's
        // "expected struct Price".
        let fields = table_at(&value, &o.key).map(|t| {
            t.keys()
                .map(|k| format!("{}.{k}", o.key))
                .collect::<Vec<_>>()
                .join(", ")
        });
        if kind == Kind::Gpu && o.key == "gpu.borrow" {
            bail!(
                "--set {o}: `gpu.borrow` is read from the preset file (it names the preset whose measured tables fill the file's gaps) before any --set; write it there, or --set the fields themselves"
            );
        }
        apply(&mut value, o)?;
        let mut parsed = T::deserialize(toml::Value::Table(value.clone()));
        // A whole number written as a float (`1e15` for a count): taken as the integer it is,
        // when a double holds it exactly.
        if let Err(e) = &parsed
            && e.message().starts_with("invalid type: floating point")
            && let Some(i) = integral_float(&o.raw)
        {
            let mut retry = value.clone();
            apply(
                &mut retry,
                &Override {
                    raw: i.to_string(),
                    ..(*o).clone()
                },
            )?;
            parsed = T::deserialize(toml::Value::Table(retry.clone()));
            if parsed.is_ok() {
                value = retry;
            }
        }
        parsed.map_err(|e| match &fields {
            Some(f) if !f.is_empty() => {
                anyhow!(
                    "--set {o}: `{}` is a table; set one of its fields: {f}",
                    o.key
                )
            }
            // A whole number too large for a double to hold exactly (1e20 for a count): out of
            // the field's range, which the message gives where it has one.
            _ if e.message().starts_with("invalid type: floating point")
                && o.raw.trim().parse::<f64>().is_ok_and(|v| v.is_finite() && v.fract() == 0.0)
                && crate::limits::field_allowed(&o.key).is_some() =>
            {
                anyhow!(
                    "--set {o}: `{}` {}",
                    o.key,
                    crate::limits::field_allowed(&o.key).unwrap_or_default()
                )
            }
            // A float where a count goes: serde prints its every digit (1e308 as 309 of them).
            _ if e.message().starts_with("invalid type: floating point") => anyhow!(
                "--set {o}: `{}` is not an integer literal for `{}`: expected a whole number (digits, e.g. 61)",
                crate::limits::clip(o.raw.trim()),
                o.key
            ),
            // A table given whole (`gpu.fused_moe.fp4={...}`): serde names the field it lacks
            // or mistypes, not where; the key says where.
            _ if o.raw.trim_start().starts_with(['{', '[']) => {
                anyhow!("--set {o}: in `{}`: {}", o.key, one_line(e.message()))
            }
            _ => anyhow!("--set {o}: {}", one_line(e.message())),
        })?;
    }
    T::deserialize(toml::Value::Table(value))
        .map_err(|e| anyhow!("{origin}: {}", one_line(e.message())))
}

/// The `[gpu]` tables a GPU preset may take from another (`borrow = "NAME"`): what was measured
/// on a peer accelerator of the same generation (efficiencies, fixed times, fused-MoE fits, the
/// collective curves). Peaks, memory, node, fabric and price are always the preset's own.
pub const BORROWED_TABLES: [&str; 6] = [
    "efficiency",
    "overheads",
    "fused_moe",
    "all_reduce_shape",
    "custom_all_reduce",
    "routing_skew",
];

/// The built-in preset whose `[gpu.overheads]` a GPU preset without that table and without
/// `borrow` takes.
pub const DEFAULT_OVERHEADS_FROM: &str = "h100";

/// A GPU preset's `borrow = "NAME"` (in `[gpu]`): every field of `BORROWED_TABLES` the preset
/// leaves out comes from the built-in preset NAME, which may not borrow in turn; the preset's own
/// values win field by field (arrays of tables as a whole). The key itself is removed.
fn borrow_measured(origin: &str, value: &mut toml::Table) -> Result<()> {
    let Some(gpu) = value.get_mut("gpu").and_then(toml::Value::as_table_mut) else {
        return Ok(());
    };
    let Some(peer) = gpu.remove("borrow") else {
        // Fixed costs left out altogether (cli-contract's minimal preset): the h100 preset's
        // measured ones, and the preset says so.
        if !gpu.contains_key("overheads") {
            let (_, text) = Kind::Gpu
                .builtins()
                .iter()
                .find(|(n, _)| *n == DEFAULT_OVERHEADS_FROM)
                .expect("the h100 preset is built in");
            let base: toml::Table = toml::from_str(text).expect("built-in presets parse");
            let from = base["gpu"]["overheads"].clone();
            gpu.insert("overheads".to_string(), from);
            let note = format!(
                "no [gpu.overheads] given: the fixed costs (per-layer, GEMM and attention fixed times, collective latencies, runtime memory) are the {DEFAULT_OVERHEADS_FROM} preset's"
            );
            let joined = match gpu.get("uncalibrated").and_then(toml::Value::as_str) {
                Some(own) => format!("{own}; {note}"),
                None => note,
            };
            gpu.insert("uncalibrated".to_string(), toml::Value::String(joined));
        }
        return Ok(());
    };
    let builtins: Vec<&str> = Kind::Gpu.builtins().iter().map(|(n, _)| *n).collect();
    let name = peer.as_str().unwrap_or_default();
    let Some((_, text)) = Kind::Gpu.builtins().iter().find(|(n, _)| *n == name) else {
        bail!(
            "{origin}: gpu.borrow = {peer}: must name a built-in GPU preset ({})",
            builtins.join(", ")
        );
    };
    let base: toml::Table = toml::from_str(text).expect("built-in presets parse");
    let base_gpu = base
        .get("gpu")
        .and_then(toml::Value::as_table)
        .expect("a built-in GPU preset has [gpu]");
    if base_gpu.contains_key("borrow") {
        bail!(
            "{origin}: gpu.borrow = \"{name}\": `{name}` borrows in turn; name the preset it borrows from"
        );
    }
    for key in BORROWED_TABLES {
        if let Some(from) = base_gpu.get(key) {
            match gpu.get_mut(key) {
                None => {
                    gpu.insert(key.to_string(), from.clone());
                }
                Some(own) => merge_missing(own, from),
            }
        }
    }
    Ok(())
}

/// Fill the fields `own` lacks from `from`, table by table (an array stays `own`'s).
fn merge_missing(own: &mut toml::Value, from: &toml::Value) {
    if let (Some(own), Some(from)) = (own.as_table_mut(), from.as_table()) {
        for (k, v) in from {
            match own.get_mut(k) {
                None => {
                    own.insert(k.clone(), v.clone());
                }
                Some(mine) => merge_missing(mine, v),
            }
        }
    }
}

/// The name or path a preset was loaded by, from its origin (`built-in preset `x`` or a path).
fn given_name(origin: &str) -> &str {
    origin
        .strip_prefix("built-in preset `")
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or(origin)
}

/// Put `o` into the table at its dotted path, creating intermediate tables.
fn apply(table: &mut toml::Table, o: &Override) -> Result<()> {
    let parts: Vec<&str> = o.key.split('.').collect();
    let (last, parents) = parts.split_last().expect("split always yields one part");
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry((*p).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| anyhow!("--set {}: `{p}` is a value, not a table of fields", o.key))?;
    }
    let value = parse_value(&o.raw);
    // An integer TOML cannot hold would otherwise arrive as a string and be refused as one.
    if value.is_str() && beyond_i64(&o.raw) {
        // The field's own range where it has one (`model.layers`: 1 to 65,536), else TOML's.
        if let Some(allowed) = crate::limits::field_allowed(&o.key) {
            bail!("--set {o}: `{}` {allowed}", o.key);
        }
        // Otherwise as the number it is: the preset then says what is wrong with it (an unknown
        // field, a count that is no float, a range), as for any other value.
        let as_float = o
            .raw
            .trim()
            .replace('_', "")
            .parse::<f64>()
            .unwrap_or(f64::MAX);
        cur.insert((*last).to_string(), toml::Value::Float(as_float));
        return Ok(());
    }
    cur.insert((*last).to_string(), value);
    Ok(())
}

/// The integer a float literal (`1e15`, `61.0`) stands for, when it is whole and a double holds
/// it exactly (|v| ≤ 2^53).
fn integral_float(raw: &str) -> Option<i64> {
    let v = raw.trim().parse::<f64>().ok()?;
    (v.is_finite() && v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_992.0).then_some(v as i64)
}

/// Whether `raw` is a well-formed TOML decimal integer (one optional sign, no leading zero,
/// underscores only between digits) whose value lies outside i64: one TOML cannot hold.
fn beyond_i64(raw: &str) -> bool {
    let raw = raw.trim();
    let body = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    let well_formed = body.starts_with(|c: char| c.is_ascii_digit())
        && body.ends_with(|c: char| c.is_ascii_digit())
        && !body.contains("__")
        && body.chars().all(|c| c.is_ascii_digit() || c == '_')
        && !(body.len() > 1 && body.starts_with('0'));
    well_formed
        && raw
            .replace('_', "")
            .parse::<i128>()
            .map_or(true, |v| i64::try_from(v).is_err())
}

/// A `--set` value as TOML (number, boolean, string, …); bare words become strings.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// `origin:line:column: message` for a TOML syntax error.
fn located(origin: &str, text: &str, e: &toml::de::Error) -> String {
    let msg = one_line(e.message());
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before
                .rfind('\n')
                .map_or(before.len(), |i| before.len() - i - 1)
                + 1;
            format!("{origin}:{line}:{col}: {msg}")
        }
        None => format!("{origin}: {msg}"),
    }
}

/// The table at a dotted key of a preset (`gpu.price`), if that key names one.
fn table_at<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Table> {
    let mut cur = table;
    for part in key.split('.') {
        cur = cur.get(part)?.as_table()?;
    }
    Some(cur)
}

/// `located`, naming the key assigned on the error's line (`layers = "many"` → `layers`).
pub(crate) fn located_key(origin: &str, text: &str, e: &toml::de::Error) -> String {
    let at = located(origin, text, e);
    // A missing field has no key of its own on the line the span points at.
    let Some(span) = e
        .span()
        .filter(|_| !e.message().starts_with("missing field"))
    else {
        return at;
    };
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or_default();
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() && !key.contains('[') => {
            let msg = one_line(e.message());
            let prefix = at.strip_suffix(&msg).unwrap_or(&at);
            format!("{prefix}`{}`: {msg}", key.trim())
        }
        _ => at,
    }
}

/// A message on one line: its lines joined with "; ", serde's Rust type names in words.
pub(crate) fn one_line(msg: &str) -> String {
    let line = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    plain_types(&line)
}

/// serde's Rust type names in a message, in words: "expected u64" → "expected a whole number".
fn plain_types(msg: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ];
    WORDS
        .iter()
        .fold(msg.to_string(), |m, (rust, plain)| m.replace(rust, plain))
}

/// Names within edit distance 3 of `s` (Levenshtein, by strsim), nearest first (at most 3).
pub fn nearest<'a>(s: &str, names: &[&'a str]) -> Vec<&'a str> {
    let lower = s.to_lowercase();
    let mut scored: Vec<(bool, usize, &str)> = names
        .iter()
        .map(|n| (!n.starts_with(&lower), strsim::levenshtein(&lower, n), *n))
        // Close, but not a rewrite of every letter (`zzz` is not a near miss of `man`).
        .filter(|(_, d, n)| {
            (*d <= 3.max(n.len() / 3) && *d < n.len().min(lower.len())) || n.contains(&lower)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, _, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_sharing_no_letter_in_place_is_no_near_miss() {
        assert!(nearest("zzz", &["man", "sweep"]).is_empty());
        assert_eq!(nearest("swep", &["man", "sweep"]), ["sweep"]);
        assert_eq!(nearest("h10", &["h100", "h200"]), ["h100", "h200"]);
    }

    #[test]
    fn serde_type_names_read_as_words() {
        assert_eq!(
            plain_types("invalid type: floating point `1.5`, expected u64"),
            "invalid type: floating point `1.5`, expected a whole number"
        );
        assert_eq!(
            plain_types("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
        assert_eq!(plain_types("expected a boolean"), "expected a boolean");
    }

    #[test]
    fn every_builtin_preset_parses_and_validates() {
        for (name, _) in MODELS {
            let p = load_model(name, &[]).unwrap();
            assert_eq!(&p.name, name, "preset file name and `name` field differ");
        }
        for (name, _) in GPUS {
            let p = load_gpu(name, &[]).unwrap();
            assert_eq!(&p.name, name, "preset file name and `name` field differ");
        }
    }

    #[test]
    fn nearest_suggests_close_names() {
        assert_eq!(
            nearest("gpt4-8", &["gpt4-8k", "gpt4-32k", "llama3-8b"])[0],
            "gpt4-8k"
        );
        assert_eq!(nearest("h10", &["a100-40g", "h100", "h200"])[0], "h100");
    }

    #[test]
    fn set_overrides_a_field_and_rejects_unknown_ones() {
        let o: Override = "model.experts=32".parse().unwrap();
        let p = load_model("gpt4-8k", &[o]).unwrap();
        assert_eq!(p.model.experts, 32);
        let bad: Override = "model.expertz=32".parse().unwrap();
        let err = load_model("gpt4-8k", &[bad]).unwrap_err().to_string();
        assert!(err.contains("expertz") && err.contains("experts"), "{err}");
    }

    #[test]
    fn a_scoped_override_applies_only_to_the_preset_it_names() {
        let o: Override = "h100:gpu.memory_bw_tb_s=4.8".parse().unwrap();
        assert_eq!(o.scope.as_deref(), Some("h100"));
        assert_eq!(o.to_string(), "h100:gpu.memory_bw_tb_s=4.8");
        let one = std::slice::from_ref(&o);
        assert!((load_gpu("h100", one).unwrap().gpu.memory_bw_tb_s - 4.8).abs() < 1e-12);
        assert!((load_gpu("a100-40g", one).unwrap().gpu.memory_bw_tb_s - 1.555).abs() < 1e-12);
        let m: Override = "gpt4-8k:model.experts=32".parse().unwrap();
        assert_eq!(
            load_model("gpt4-8k", std::slice::from_ref(&m))
                .unwrap()
                .model
                .experts,
            32
        );
        assert_eq!(load_model("gpt4-32k", &[m]).unwrap().model.experts, 16);
    }

    #[test]
    fn a_scope_must_name_a_loaded_preset_of_its_kind() {
        let loaded = [
            (Kind::Model, vec!["gpt4-8k".to_string()]),
            (Kind::Gpu, vec!["h100".to_string()]),
        ];
        let check = |s: &str| check_scopes(&[s.parse().unwrap()], &loaded);
        assert!(check("h100:gpu.memory_gib=96").is_ok());
        assert!(check("gpu.memory_gib=96").is_ok());
        let err = check("h10:gpu.memory_gib=96").unwrap_err().to_string();
        assert!(err.contains("`h10`") && err.contains("h100"), "{err}");
        let err = check("h100:model.experts=8").unwrap_err().to_string();
        assert!(
            err.contains("gpu preset") && err.contains("gpt4-8k"),
            "{err}"
        );
        for bad in [":model.experts=8", "a b:model.experts=8"] {
            assert!(bad.parse::<Override>().is_err(), "{bad}");
        }
    }
}
