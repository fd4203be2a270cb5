//! A structural check of msgpack bytes that runs before serde sees them.
//!
//! It walks the encoding without allocating, and fails on a declared length that exceeds the bytes
//! left (so no decoder can be talked into reserving memory the frame does not hold), on nesting
//! deeper than [`MAX_DEPTH`], on the reserved marker `0xc1`, and on truncation.

use crate::Error;

/// The deepest nesting of arrays and maps accepted. hearsay's messages nest about eight deep.
pub const MAX_DEPTH: usize = 32;

/// Checks that `bytes` start with one well-formed msgpack value; returns its length in bytes.
///
/// ```
/// use hearsay_proto::wire::validate;
/// assert_eq!(validate(&[0x92, 0x01, 0xc0]), Ok(3)); // [1, nil]
/// assert!(validate(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err()); // an array of 4 G elements
/// ```
pub fn validate(bytes: &[u8]) -> Result<usize, Error> {
    let mut at = 0usize;
    // Values still to read at each open level of nesting (`depth` of them), on the stack.
    let mut pending = [0u64; MAX_DEPTH];
    let mut depth = 0usize;
    let mut left: u64 = 1;
    loop {
        while left == 0 {
            if depth == 0 {
                return Ok(at);
            }
            depth -= 1;
            left = pending[depth];
        }
        left -= 1;
        let marker = *bytes.get(at).ok_or_else(truncated)?;
        at += 1;
        let (skip, children) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (read_len(bytes, &mut at, 1)?, 0),
            0xc5 | 0xda => (read_len(bytes, &mut at, 2)?, 0),
            0xc6 | 0xdb => (read_len(bytes, &mut at, 4)?, 0),
            0xc7 => (read_len(bytes, &mut at, 1)? + 1, 0),
            0xc8 => (read_len(bytes, &mut at, 2)? + 1, 0),
            0xc9 => (read_len(bytes, &mut at, 4)? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, read_len(bytes, &mut at, 2)?),
            0xdd => (0, read_len(bytes, &mut at, 4)?),
            0xde => (0, 2 * read_len(bytes, &mut at, 2)?),
            0xdf => (0, 2 * read_len(bytes, &mut at, 4)?),
            0xc1 => return Err(Error::Malformed("reserved marker 0xc1".into())),
        };
        let remaining = (bytes.len() - at) as u64;
        if skip > remaining {
            return Err(Error::Malformed(format!(
                "declared length {skip} exceeds the {remaining} bytes left"
            )));
        }
        at += skip as usize;
        if children > 0 {
            // Every element takes at least one byte.
            if children > (bytes.len() - at) as u64 {
                return Err(Error::Malformed(format!(
                    "declared {children} elements exceed the {} bytes left",
                    bytes.len() - at
                )));
            }
            let Some(slot) = pending.get_mut(depth) else {
                return Err(Error::Malformed(format!("nesting deeper than {MAX_DEPTH}")));
            };
            *slot = left;
            depth += 1;
            left = children;
        }
    }
}

fn truncated() -> Error {
    Error::Malformed("truncated message".into())
}

fn read_len(bytes: &[u8], at: &mut usize, width: usize) -> Result<u64, Error> {
    let end = at.checked_add(width).ok_or_else(truncated)?;
    let field = bytes.get(*at..end).ok_or_else(truncated)?;
    *at = end;
    Ok(field.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_rmp_serde_writes() {
        let value = (
            1u8,
            "text",
            vec![1u64, 300, 70_000],
            Some(-5i64),
            None::<u8>,
        );
        let bytes = rmp_serde::to_vec(&value).unwrap_or_default();
        assert_eq!(validate(&bytes), Ok(bytes.len()));
    }

    #[test]
    fn rejects_lengths_beyond_the_frame() {
        assert!(validate(&[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]).is_err());
        assert!(validate(&[0xdf, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x01]).is_err());
        assert!(validate(&[0xa5, b'a']).is_err());
        assert!(validate(&[]).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let bytes = vec![0x91; MAX_DEPTH + 2];
        assert!(validate(&bytes).is_err());
    }
}
