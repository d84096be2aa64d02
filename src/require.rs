//! `--require EXPR` filters: `FIELD OP VALUE` with OP one of `>= <= > < == !=` (`=` reads as
//! `==`), e.g.
//! `output_tokens_per_s_per_user>=33.3`, `fits==true`, `decode_bound!=compute`.

use crate::fields::{Field, Kind, Record, Value};

/// The values a text field can take, where they form a fixed set (`model`, `gpu` and the layouts
/// are open).
fn allowed_values(field: &str) -> Option<&'static [&'static str]> {
    // Every precision's name as the rows print it (`crate::dtype::ALL`).
    const DTYPES: &[&str] = &[
        "fp32", "bf16", "fp16", "fp8", "int8", "int4", "nvfp4", "mxfp4",
    ];
    match field {
        "decode_bound" => Some(&["memory", "compute", "communication"]),
        "dtype" | "kv_dtype" | "matmul_dtype" => Some(DTYPES),
        "recompute" => Some(&["none", "selective", "full"]),
        _ => None,
    }
}

/// A parsed requirement.
#[derive(Clone, Debug)]
pub struct Require {
    field: Field,
    op: Op,
    value: Literal,
    text: String,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
    Ne,
}

#[derive(Clone, Debug)]
enum Literal {
    Num(f64),
    Bool(bool),
    Str(String),
}

impl Require {
    /// Parse an expression over the fields of record type `R`.
    pub fn parse<R: Record>(text: &str) -> Result<Self, String> {
        const OPS: [(&str, Op); 7] = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ];
        // User text in messages is clipped: a megabyte-long argument makes a one-line error.
        let shown = crate::limits::clip(text);
        let (pos, sym, op) = OPS
            .iter()
            .filter_map(|(s, op)| text.find(s).map(|p| (p, *s, *op)))
            .min_by_key(|(p, s, _)| (*p, usize::MAX - s.len()))
            .ok_or_else(|| {
                format!(
                    "--require `{shown}`: expected FIELD OP VALUE with OP one of >= <= > < == != (= reads as ==)"
                )
            })?;
        let name = text[..pos].trim();
        let raw = text[pos + sym.len()..].trim();
        let (name_shown, raw_shown) = (crate::limits::clip(name), crate::limits::clip(raw));
        let field = Field::parse::<R>(name).map_err(|e| format!("--require `{shown}`: {e}"))?;
        let value = match field.kind() {
            // A finite number: `inf` (or 1e400, which parses to it) compares as no bound at all.
            Kind::Num => Literal::Num(
                raw.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        format!(
                            "--require `{shown}`: `{raw_shown}` is not a finite number (field `{name_shown}` is numeric)"
                        )
                    })?,
            ),
            Kind::Bool => Literal::Bool(raw.parse::<bool>().map_err(|_| {
                format!(
                    "--require `{shown}`: `{raw_shown}` is not true or false (field `{name_shown}` is a boolean)"
                )
            })?),
            Kind::Str => {
                let v = raw.trim_matches(|c| c == '"' || c == '\'');
                if let Some(allowed) = allowed_values(field.name())
                    && !allowed.contains(&v)
                {
                    return Err(format!(
                        "--require `{shown}`: `{}` is not a value of `{name_shown}`; allowed: {}",
                        crate::limits::clip(v),
                        allowed.join(", ")
                    ));
                }
                Literal::Str(v.to_string())
            }
        };
        if matches!(value, Literal::Bool(_) | Literal::Str(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(format!(
                "--require `{shown}`: field `{name_shown}` takes only == or !="
            ));
        }
        Ok(Require {
            field,
            op,
            value,
            text: text.to_string(),
        })
    }

    /// Parse several.
    pub fn parse_all<R: Record>(texts: &[String]) -> Result<Vec<Self>, String> {
        texts.iter().map(|t| Self::parse::<R>(t)).collect()
    }

    /// Whether a row satisfies the requirement.
    pub fn accepts<R: Record>(&self, r: &R) -> bool {
        let ord = match (self.field.get(r), &self.value) {
            (Value::Num(a), Literal::Num(b)) => a.partial_cmp(b),
            (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
            (Value::Str(a), Literal::Str(b)) => Some((*a).cmp(b.as_str())),
            (Value::Owned(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
            _ => None,
        };
        let Some(ord) = ord else { return false };
        use std::cmp::Ordering::*;
        match self.op {
            Op::Ge => ord != Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Lt => ord == Less,
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
        }
    }

    /// The expression as given.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_precision_is_an_allowed_dtype_value() {
        let names: Vec<&str> = crate::dtype::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(allowed_values("dtype").unwrap(), names.as_slice());
    }
}
