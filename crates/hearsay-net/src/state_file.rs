//! A node's state on disk across restarts (Serf's `snapshot_path`): its
//! [`Snapshot`] saved to a file now and then and at shutdown, and read back at the next start,
//! so that a restarted process holds its own entries and the members' addresses and reaches
//! the cluster without a seed.

use crate::Error;
use hearsay_proto::{Config, Generation, Node, NodeId, Snapshot};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest state file read back (256 MiB): a larger one is refused, not read into memory.
/// Decoded, a snapshot takes up to about 15 times its bytes (each small entry becomes a key,
/// a version and a value on the heap, then a store's index): a few GiB at most.
pub const MAX_STATE_FILE: u64 = 256 << 20;

/// Where a node's state is kept and how often it is saved ([`crate::NetConfig::state`]).
///
/// ```
/// use hearsay_net::StateFile;
/// use std::time::Duration;
/// let state = StateFile::new("/var/lib/myapp/hearsay.state");
/// assert_eq!(state.every, Duration::from_secs(30));
/// assert_eq!(state.after_write, Some(Duration::from_secs(1)));
/// ```
///
/// What a crash can lose: a restored node comes back as a new generation, which replaces its
/// old one everywhere — the copies of its entries its peers held included. Its own writes are
/// therefore saved soon after they are made ([`StateFile::after_write`], Redis's `everysec`):
/// a crash loses the last second of them, not the last 30 s. Others' entries come back from
/// the cluster, and are saved every [`StateFile::every`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateFile {
    /// The file. Written whole to `<path>.tmp`, synced, then renamed over it: a crash while
    /// saving leaves the previous state.
    pub path: PathBuf,
    /// How often the running node's state is saved (and once more by
    /// [`crate::NetNode::shutdown_and_flush`]). Between 1 s and a day. Default: 30 s.
    pub every: Duration,
    /// How soon after the node's own write (a set, a delete, a leave) its state is saved:
    /// checked this often, saved if it wrote since the last save. Between 10 ms and
    /// [`StateFile::every`]; `None`: only every [`StateFile::every`]. Default: 1 s.
    pub after_write: Option<Duration>,
}

impl StateFile {
    /// A state file at `path`, saved every 30 s and within a second of the node's own writes.
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile {
            path: path.into(),
            every: Duration::from_secs(30),
            after_write: Some(Duration::from_secs(1)),
        }
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&self.every) {
            return Err(Error::Config(
                "state.every must be between 1 s and a day".into(),
            ));
        }
        if self
            .after_write
            .is_some_and(|d| !(Duration::from_millis(10)..=self.every).contains(&d))
        {
            return Err(Error::Config(
                "state.after_write must be between 10 ms and state.every".into(),
            ));
        }
        if self.path.as_os_str().is_empty() {
            return Err(Error::Config("state.path is empty".into()));
        }
        Ok(())
    }

    /// The node to start as `id`: restored from the file if it holds a saved state
    /// ([`Node::restore`]), new ([`Node::new`]) if there is no file yet. The node runs
    /// `generation`, or one above the saved generation if `generation` is not above it (a
    /// process that numbers its generations from 1, or whose clock went back, still starts).
    ///
    /// A file that exists but cannot be read, is larger than [`MAX_STATE_FILE`], is not a
    /// snapshot, or is another node's, is an [`Error::State`] naming the file: the node does
    /// not start empty over saved state that someone should look at.
    pub fn load(
        &self,
        id: NodeId,
        generation: Generation,
        config: impl Into<Arc<Config>>,
        seed: u64,
    ) -> Result<Node, Error> {
        self.start_from(self.saved()?, id, generation, config, seed)
    }

    /// The snapshot the file holds (`None`: no file yet), refused as [`StateFile::load`]
    /// refuses; for a process that takes its id from it before [`StateFile::start_from`].
    pub fn saved(&self) -> Result<Option<Snapshot>, Error> {
        match std::fs::metadata(&self.path) {
            Ok(metadata) if !metadata.is_file() => {
                return Err(self.refused("not a regular file"));
            }
            _ => {}
        }
        let bytes = match crate::read_bounded(&self.path, MAX_STATE_FILE) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.refused(e)),
        };
        Snapshot::decode(&bytes)
            .map(Some)
            .map_err(|e| self.refused(e))
    }

    /// [`StateFile::load`] with the file already read ([`StateFile::saved`]).
    pub fn start_from(
        &self,
        saved: Option<Snapshot>,
        id: NodeId,
        generation: Generation,
        config: impl Into<Arc<Config>>,
        seed: u64,
    ) -> Result<Node, Error> {
        let Some(snapshot) = saved else {
            return Ok(Node::new(id, generation, config, seed).map_err(hearsay_actor::Error::from)?);
        };
        if snapshot.id != id {
            return Err(self.refused(format!("it holds {}'s state, not {id}'s", snapshot.id)));
        }
        let Some(next) = snapshot.generation.0.checked_add(1) else {
            return Err(self.refused("its generation is the last one"));
        };
        let generation = generation.max(Generation(next));
        Node::restore(snapshot, generation, config, seed, Instant::now()).map_err(|e| {
            match e.kind() {
                // The settings' fault, not the file's.
                hearsay_proto::ErrorKind::Config => hearsay_actor::Error::from(e).into(),
                _ => self.refused(e),
            }
        })
    }

    /// The file the path names: the path itself, or the file a symbolic link at it points to
    /// (a link that points nowhere is an [`Error::State`]: saving over it would replace the
    /// link).
    fn target(&self) -> Result<PathBuf, Error> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(&self.path)
                .map_err(|e| self.refused(format!("a symbolic link to nothing: {e}"))),
            _ => Ok(self.path.clone()),
        }
    }

    /// The file cannot be restored, for `reason`.
    fn refused(&self, reason: impl std::fmt::Display) -> Error {
        Error::State {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Takes the file for this process: an exclusive lock on `<path>.lock` (created beside it,
    /// never removed), held until the [`StateLock`] is dropped. [`crate::NetNode::start`] takes
    /// it for the node's life, so that two processes never run as one saved node (two
    /// processes of one id erase each other's entries everywhere: the newer generation wins). A
    /// lock held elsewhere — in this process too — is an [`Error::State`].
    pub fn lock(&self) -> Result<StateLock, Error> {
        // Named for the file itself: two links to one file take one lock.
        let mut name = self.target()?.into_os_string();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.refused(format!("cannot open its lock {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock {
                path: self.path.clone(),
                _file: file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(self.refused(format!(
                "in use: another node holds its lock {}",
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(self.refused(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }

    /// Writes `snapshot` to the file: whole to a temporary file beside it (named for this
    /// process and this save, created anew), synced, renamed over the file, and the directory
    /// synced: a crash leaves the previous state or the new one, and two processes saving at
    /// once (an old one exiting, a new one starting) do not write into one file. A path that is
    /// a symbolic link is written through: the file it points to is replaced, not the link.
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), Error> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let bytes = snapshot.encode().map_err(hearsay_actor::Error::from)?;
        let target = self.target()?;
        let mut name = target.as_os_str().to_owned();
        name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            SAVES.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(name);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &target)?;
            let dir = match target.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            // Not every platform can open a directory to sync it; the rename is done either way.
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("saving {}", self.path.display()), source)
        })
    }
}

/// A state file taken by one process ([`StateFile::lock`]); released when dropped — by a
/// [`crate::NetNode`] given it, once no save is writing any more.
#[derive(Debug)]
pub struct StateLock {
    /// The state file's path, as given.
    path: PathBuf,
    _file: std::fs::File,
}

impl StateLock {
    /// The path of the state file taken.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
