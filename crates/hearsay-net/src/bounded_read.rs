//! Reading a file an operator names — a key file, a config file, a saved state — without
//! trusting its size.

use std::io::Read;
use std::path::Path;

/// The bytes of the file at `path`, at most `limit` of them. A regular file larger than the
/// limit is refused at once (an error reading "larger than N KiB"); any file is read through a
/// bounded reader, whatever its metadata says, so that one that grows, or a device such as
/// `/dev/zero` that never ends, is refused after one byte more than the limit, never read to
/// its end.
///
/// ```
/// let path = std::env::temp_dir().join(format!("bounded-read-{}", std::process::id()));
/// std::fs::write(&path, [0u8; 2048])?;
/// assert_eq!(hearsay_net::read_bounded(&path, 2048)?.len(), 2048);
/// let refused = hearsay_net::read_bounded(&path, 1024).unwrap_err();
/// assert_eq!(refused.to_string(), "larger than 1 KiB");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let larger = || std::io::Error::other(format!("larger than {} KiB", limit / 1024));
    let metadata = file.metadata()?;
    if metadata.is_file() && metadata.len() > limit {
        return Err(larger());
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(larger());
    }
    Ok(bytes)
}
