//! Bounds on what one request may ask the server to hold.

/// Bounds checked before anything is allocated for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body, bytes; every tensor must fit in it too.
    pub max_body_bytes: usize,
    /// Largest number of dimensions of a tensor.
    pub max_dims: usize,
}

impl Limits {
    /// Elements of `shape`, or why it is not a shape this server takes: a negative dimension, more
    /// than `max_dims` dimensions, or more f32 elements than fit in `max_body_bytes` (which also
    /// rules out overflowing products).
    pub fn elements(&self, shape: &[i64]) -> Result<usize, String> {
        if shape.len() > self.max_dims {
            return Err(format!(
                "shape has {} dimensions, more than the limit of {}",
                shape.len(),
                self.max_dims
            ));
        }
        let max = self.max_body_bytes / 4;
        let mut n: usize = 1;
        for &d in shape {
            let d = usize::try_from(d).map_err(|_| format!("shape {shape:?} has a negative dimension"))?;
            n = n.checked_mul(d).filter(|&n| n <= max).ok_or_else(|| {
                format!(
                    "shape {shape:?} has more elements than a body of at most {} bytes holds",
                    self.max_body_bytes
                )
            })?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_bounded_before_anything_is_allocated() {
        let l = Limits {
            max_body_bytes: 1024,
            max_dims: 4,
        };
        assert_eq!(l.elements(&[1, 64]), Ok(64));
        assert_eq!(l.elements(&[]), Ok(1));
        assert_eq!(l.elements(&[0, 1 << 40]), Ok(0));
        assert!(l.elements(&[1, 257]).unwrap_err().contains("more elements"));
        assert!(l.elements(&[i64::MAX, i64::MAX]).unwrap_err().contains("more elements"));
        assert!(l.elements(&[1, -1]).unwrap_err().contains("negative"));
        assert!(l.elements(&[1, 1, 1, 1, 1]).unwrap_err().contains("5 dimensions"));
    }
}
