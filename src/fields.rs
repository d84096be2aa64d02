//! Reading output rows field by field, by name: what `--sort` and `--require` use, for inference
//! and training rows alike.

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Numbers (and integers).
    Num(f64),
    /// Booleans.
    Bool(bool),
    /// Strings.
    Str(&'a str),
    /// Strings made for the occasion (e.g. a layout's name).
    Owned(String),
}

/// A field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Numeric.
    Num,
    /// Boolean.
    Bool,
    /// Text.
    Str,
}

/// A row whose fields can be read by position in `FIELDS`.
pub trait Record {
    /// Field names in output order.
    const FIELDS: &'static [&'static str];
    /// The value of field `index`.
    fn value(&self, index: usize) -> Value<'_>;
    /// The type of field `index`.
    fn kind(index: usize) -> Kind;
    /// Whether larger values of field `index` are better (sorts descending by default).
    fn higher_is_better(index: usize) -> bool;
}

/// A field resolved from its name once, then read from many rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    index: usize,
    name: &'static str,
    kind: Kind,
    higher_is_better: bool,
}

impl Field {
    /// Resolve a field name of record type `R`; the error suggests near names and lists them all.
    pub fn parse<R: Record>(name: &str) -> Result<Field, String> {
        let index = R::FIELDS.iter().position(|f| *f == name).ok_or_else(|| {
            let near = crate::presets::nearest(name, R::FIELDS);
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!("did you mean {}? ", near.join(" or "))
            };
            format!(
                "unknown field `{}`: {hint}fields: {}",
                crate::limits::clip(name),
                R::FIELDS.join(", ")
            )
        })?;
        Ok(Field {
            index,
            name: R::FIELDS[index],
            kind: R::kind(index),
            higher_is_better: R::higher_is_better(index),
        })
    }

    /// The field's name.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The field's type.
    pub fn kind(self) -> Kind {
        self.kind
    }

    /// Whether larger is better.
    pub fn higher_is_better(self) -> bool {
        self.higher_is_better
    }

    /// Read the field (the record must be of the type it was parsed for).
    pub fn get<R: Record>(self, r: &R) -> Value<'_> {
        r.value(self.index)
    }
}

/// How to rank rows.
#[derive(Clone, Copy, Debug)]
pub struct SortKey {
    /// The field.
    pub field: Field,
    /// Largest first.
    pub descending: bool,
}

impl SortKey {
    /// `FIELD`, `FIELD:asc` or `FIELD:desc`; without a direction, throughput and utilisation
    /// fields sort largest first and everything else smallest first.
    pub fn parse<R: Record>(s: &str) -> Result<Self, String> {
        let full = s;
        let s = &crate::limits::clip(full);
        let (name, dir) = match full.rsplit_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (full, None),
        };
        let field = Field::parse::<R>(name.trim()).map_err(|e| format!("--sort `{s}`: {e}"))?;
        if field.kind() == Kind::Str {
            return Err(format!(
                "--sort `{s}`: `{}` is text; sort by a numeric field",
                crate::limits::clip(name)
            ));
        }
        let descending = match dir {
            None => field.higher_is_better(),
            Some("asc") => false,
            Some("desc") => true,
            Some(d) => {
                return Err(format!(
                    "--sort `{s}`: direction `{}` must be asc or desc",
                    crate::limits::clip(d)
                ));
            }
        };
        Ok(SortKey { field, descending })
    }

    /// The ranking key of a row: smaller is better; NaN ranks last.
    pub fn key<R: Record>(&self, r: &R) -> f64 {
        let raw = match self.field.get(r) {
            Value::Num(v) => v,
            Value::Bool(b) => f64::from(u8::from(b)),
            Value::Str(_) | Value::Owned(_) => 0.0,
        };
        if raw.is_nan() {
            f64::INFINITY
        } else if self.descending {
            -raw
        } else {
            raw
        }
    }
}

/// Conversion of a row field to a [`Value`], for [`record!`](crate::record).
pub trait AsValue {
    /// The value.
    fn as_value(&self) -> Value<'_>;
    /// The type.
    const KIND: Kind;
}

impl AsValue for f64 {
    fn as_value(&self) -> Value<'_> {
        Value::Num(*self)
    }
    const KIND: Kind = Kind::Num;
}

impl AsValue for u64 {
    fn as_value(&self) -> Value<'_> {
        Value::Num(*self as f64)
    }
    const KIND: Kind = Kind::Num;
}

impl AsValue for bool {
    fn as_value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
    const KIND: Kind = Kind::Bool;
}

impl AsValue for String {
    fn as_value(&self) -> Value<'_> {
        Value::Str(self)
    }
    const KIND: Kind = Kind::Str;
}

impl AsValue for &'static str {
    fn as_value(&self) -> Value<'_> {
        Value::Str(self)
    }
    const KIND: Kind = Kind::Str;
}

/// Declare a flat, serialisable row struct and implement [`Record`] for it from one field list.
/// Fields named in `higher` sort largest first by default.
#[macro_export]
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }
     higher: [$($high:ident),* $(,)?]) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Serialize)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $crate::fields::Record for $name {
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn value(&self, index: usize) -> $crate::fields::Value<'_> {
                let mut i = 0usize;
                $(
                    if i == index {
                        return $crate::fields::AsValue::as_value(&self.$field);
                    }
                    i += 1;
                )*
                let _ = i;
                $crate::fields::Value::Num(f64::NAN)
            }
            fn kind(index: usize) -> $crate::fields::Kind {
                let kinds = [$(<$ty as $crate::fields::AsValue>::KIND),*];
                kinds.get(index).copied().unwrap_or($crate::fields::Kind::Num)
            }
            fn higher_is_better(index: usize) -> bool {
                let high: &[&str] = &[$(stringify!($high)),*];
                Self::FIELDS.get(index).is_some_and(|f| high.contains(f))
            }
        }
    };
}
