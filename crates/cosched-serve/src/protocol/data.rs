//! A tensor's JSON `data`, flat or nested, read straight into `f32`s (no `serde_json::Value` tree:
//! at most 2 bytes of body per element, so at most twice the body's size in memory).

use serde::de::{Deserialize, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::fmt;

/// The elements of a tensor's `data`, row-major, whatever its nesting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlatData {
    /// The numbers, as f32.
    pub values: Vec<f32>,
    /// Elements that were not numbers (booleans, strings, null): the data of a tensor of another
    /// datatype, refused once the datatype is known.
    pub non_numeric: usize,
}

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FlatData, D::Error> {
        let mut out = FlatData::default();
        Element(&mut out).deserialize(d)?;
        Ok(out)
    }
}

/// One element or nested list, appended to the data.
struct Element<'a>(&'a mut FlatData);

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a (nested) list of numbers")
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.values.push(v as f32);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.values.push(v as f32);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.values.push(v as f32);
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.0.non_numeric += 1;
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.0.non_numeric += 1;
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.non_numeric += 1;
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        while seq.next_element_seed(Element(&mut *out))?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_nested_data_read_the_same() {
        let flat: FlatData = serde_json::from_str("[1, 2.5, -3, 4]").unwrap();
        let nested: FlatData = serde_json::from_str("[[1, 2.5], [-3, [4]]]").unwrap();
        assert_eq!(flat.values, vec![1.0, 2.5, -3.0, 4.0]);
        assert_eq!(flat, nested);
        let scalar: FlatData = serde_json::from_str("7").unwrap();
        assert_eq!(scalar.values, vec![7.0]);
        let mixed: FlatData = serde_json::from_str(r#"[true, "x", 1]"#).unwrap();
        assert_eq!((mixed.values.len(), mixed.non_numeric), (1, 2));
        assert!(serde_json::from_str::<FlatData>(r#"{"a": 1}"#).is_err());
    }
}
