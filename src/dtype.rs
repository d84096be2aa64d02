//! Numeric precisions for weights, matmuls and the KV cache, and their sizes in bytes.

use std::fmt;
use std::str::FromStr;

/// A numeric precision the calculator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// IEEE single precision.
    Fp32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    Fp16,
    /// 8-bit float (E4M3/E5M2).
    Fp8,
    /// 8-bit integer.
    Int8,
    /// 4-bit integer (weight-only: matmuls run in 16-bit).
    Int4,
    /// NVFP4: 4-bit E2M1 values with one E4M3 scale per 16 (4.5 bits a value); FP4 math where
    /// the tensor cores have it (Blackwell), else 16-bit math on dequantised weights.
    Nvfp4,
    /// MXFP4 (OCP microscaling): 4-bit E2M1 values with one E8M0 scale per 32 (4.25 bits);
    /// FP4 math where the tensor cores have it (Blackwell, MI355X), else 16-bit math.
    Mxfp4,
}

/// Every dtype, in the order the CLI lists them.
pub const ALL: [Dtype; 8] = [
    Dtype::Fp32,
    Dtype::Bf16,
    Dtype::Fp16,
    Dtype::Fp8,
    Dtype::Int8,
    Dtype::Int4,
    Dtype::Nvfp4,
    Dtype::Mxfp4,
];

/// Bytes of one NVFP4 value: half a byte plus one 1-byte E4M3 scale per 16 values (NVIDIA,
/// "Introducing NVFP4", 2025; TensorRT-LLM/ModelOpt NVFP4 layout).
pub const NVFP4_BYTES: f64 = 0.5 + 1.0 / 16.0;
/// Bytes of one MXFP4 value: half a byte plus one 1-byte E8M0 scale per 32 values (OCP
/// Microscaling Formats (MX) Specification v1.0, §5).
pub const MXFP4_BYTES: f64 = 0.5 + 1.0 / 32.0;

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Bf16 | Dtype::Fp16 => 2.0,
            Dtype::Fp8 | Dtype::Int8 => 1.0,
            Dtype::Int4 => 0.5,
            Dtype::Nvfp4 => NVFP4_BYTES,
            Dtype::Mxfp4 => MXFP4_BYTES,
        }
    }

    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp8 => "fp8",
            Dtype::Int8 => "int8",
            Dtype::Int4 => "int4",
            Dtype::Nvfp4 => "nvfp4",
            Dtype::Mxfp4 => "mxfp4",
        }
    }

    /// The KV-cache precision used when none is given: the weight precision, except that
    /// integer 4-bit weights keep a 16-bit cache (the contract's rule) and FP4 weights an fp8
    /// cache (what TensorRT-LLM, SGLang and vLLM run with NVFP4 and MXFP4 checkpoints).
    pub fn default_kv(self) -> Dtype {
        match self {
            Dtype::Int4 => Dtype::Fp16,
            Dtype::Nvfp4 | Dtype::Mxfp4 => Dtype::Fp8,
            other => other,
        }
    }

    /// A 4-bit floating-point format (NVFP4 or MXFP4).
    pub fn is_fp4(self) -> bool {
        matches!(self, Dtype::Nvfp4 | Dtype::Mxfp4)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `fp4` names NVIDIA's format, the one TensorRT-LLM's FP4 checkpoints use.
        if s.trim().eq_ignore_ascii_case("fp4") {
            return Ok(Dtype::Nvfp4);
        }
        ALL.iter()
            .copied()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<_> = ALL.iter().map(|d| d.name()).collect();
                format!(
                    "unknown dtype `{s}`; allowed: {} (fp4 = nvfp4)",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn fp4_formats_carry_their_scales() {
        // NVFP4: 16 four-bit values share one E4M3 byte, 4.5 bits a value; MXFP4: 32 share one
        // E8M0 byte, 4.25 bits.
        assert_close(Dtype::Nvfp4.bytes() * 8.0, 4.5, 1e-15);
        assert_close(Dtype::Mxfp4.bytes() * 8.0, 4.25, 1e-15);
        assert_eq!("fp4".parse::<Dtype>(), Ok(Dtype::Nvfp4));
        assert_eq!("MXFP4".parse::<Dtype>(), Ok(Dtype::Mxfp4));
        assert_eq!(Dtype::Nvfp4.default_kv(), Dtype::Fp8);
        assert_eq!(Dtype::Int4.default_kv(), Dtype::Fp16);
        let err = "fp5".parse::<Dtype>().unwrap_err();
        assert!(err.contains("nvfp4, mxfp4 (fp4 = nvfp4)"), "{err}");
    }
}
