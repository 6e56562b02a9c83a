//! The last good artifact on disk (`artifact.backup_dir`): written after every new
//! download, read at start so that a replica restarted while the CDN is unreachable
//! still serves (the refresher decides when to serve it).
//!
//! One file, `artifact.backup`, written atomically: a temporary file in the same
//! directory, fsync, rename over the old one, fsync of the directory. A crash at any
//! point leaves the old backup or the new one, whole. The file says what it is, so a
//! torn, truncated or foreign file is recognised and refused, never half-used:
//!
//! ```text
//! offerd-artifact-backup 1\n
//! {"location": ..., "format": "json"|"bin", "etag": ..., "fetchedAtMs": ..., "length": N, "fnv1a64": "..."}\n
//! <N bytes: the artifact exactly as downloaded>
//! ```
//!
//! The file's modification time is when the CDN last vouched for the artifact: set by
//! the write, and again by every poll the CDN answers 304 (see [`BackupDir::confirm`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::engine::ArtifactFormat;

/// The first line of every backup.
const MAGIC: &[u8] = b"offerd-artifact-backup 1\n";

/// The backup's file name inside `artifact.backup_dir`.
pub const FILE_NAME: &str = "artifact.backup";

/// The temporary file a write goes through; a crash may leave it behind, and the
/// next write replaces it.
pub const TEMP_NAME: &str = "artifact.backup.tmp";

/// The largest header line read: it holds a URL and an ETag, never much.
const MAX_HEADER: usize = 64 * 1024;

/// What the header says about the bytes after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Header {
    location: String,
    format: String,
    etag: Option<String>,
    fetched_at_ms: u64,
    length: u64,
    fnv1a64: String,
}

/// An artifact as downloaded, with where and when it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The artifact, byte for byte as the source gave it.
    pub bytes: Vec<u8>,
    /// The `artifact.location` it was downloaded from.
    pub location: String,
    pub format: ArtifactFormat,
    pub etag: Option<String>,
    /// When it was downloaded.
    pub fetched_at: SystemTime,
    /// When the CDN last vouched for it (the file's modification time).
    pub confirmed_at: SystemTime,
}

/// Why a backup cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file exists but is not a whole backup of this kind.
    #[error("{path}: not a whole offerd artifact backup ({reason})")]
    Unusable { path: String, reason: String },
}

/// The backup directory.
#[derive(Debug, Clone)]
pub struct BackupDir {
    dir: PathBuf,
}

impl BackupDir {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The backup file.
    pub fn file(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Replaces the backup with `backup`, atomically and durably.
    pub fn write(&self, backup: &Backup) -> Result<(), BackupError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| BackupError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let header = Header {
            location: backup.location.clone(),
            format: format_name(backup.format).into(),
            etag: backup.etag.clone(),
            fetched_at_ms: unix_ms(backup.fetched_at),
            length: backup.bytes.len() as u64,
            fnv1a64: format!("{:016x}", fnv1a64(&backup.bytes)),
        };
        let header = serde_json::to_vec(&header).map_err(|e| BackupError::Unusable {
            path: self.file().display().to_string(),
            reason: e.to_string(),
        })?;
        let temp = self.dir.join(TEMP_NAME);
        let written = File::create(&temp).and_then(|mut file| {
            file.write_all(MAGIC)?;
            file.write_all(&header)?;
            file.write_all(b"\n")?;
            file.write_all(&backup.bytes)?;
            // Durable before it takes the old one's name: a power loss after the
            // rename must not leave a named file whose blocks never reached the disk.
            file.sync_all()
        });
        if let Err(e) = written {
            // A full disk leaves a partial temporary file: give its space back. The
            // old backup is untouched.
            let _ = std::fs::remove_file(&temp);
            return Err(io(&temp)(e));
        }
        let target = self.file();
        std::fs::rename(&temp, &target).map_err(io(&target))?;
        // The rename itself is an entry of the directory: durable once it is synced.
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&self.dir))
    }

    /// Reads the backup; `Ok(None)` when there is none.
    pub fn read(&self) -> Result<Option<Backup>, BackupError> {
        let path = self.file();
        let shown = path.display().to_string();
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(BackupError::Io {
                    path: shown,
                    source,
                });
            }
        };
        let io = |source| BackupError::Io {
            path: shown.clone(),
            source,
        };
        let confirmed_at = file.metadata().and_then(|m| m.modified()).map_err(io)?;
        let mut raw = Vec::new();
        let limit = (MAGIC.len() + MAX_HEADER) as u64
            + crate::upstream::artifact_source::MAX_ARTIFACT_BYTES as u64;
        // Bounded: a foreign file may be anything, of any size.
        Read::by_ref(&mut file)
            .take(limit + 1)
            .read_to_end(&mut raw)
            .map_err(io)?;
        let unusable = |reason: &str| BackupError::Unusable {
            path: shown.clone(),
            reason: reason.to_string(),
        };
        if raw.len() as u64 > limit {
            return Err(unusable("larger than any artifact"));
        }
        let rest = raw
            .strip_prefix(MAGIC)
            .ok_or_else(|| unusable("it does not start with the backup marker"))?;
        let newline = rest
            .iter()
            .take(MAX_HEADER)
            .position(|&b| b == b'\n')
            .ok_or_else(|| unusable("no header line"))?;
        let header: Header = serde_json::from_slice(&rest[..newline])
            .map_err(|e| unusable(&format!("unreadable header: {e}")))?;
        let bytes = &rest[newline + 1..];
        if bytes.len() as u64 != header.length {
            return Err(unusable(&format!(
                "{} artifact bytes, the header says {}",
                bytes.len(),
                header.length
            )));
        }
        if format!("{:016x}", fnv1a64(bytes)) != header.fnv1a64 {
            return Err(unusable("checksum mismatch"));
        }
        let format = match header.format.as_str() {
            "json" => ArtifactFormat::Json,
            "bin" => ArtifactFormat::Binary,
            other => return Err(unusable(&format!("unknown format {other:?}"))),
        };
        Ok(Some(Backup {
            bytes: bytes.to_vec(),
            location: header.location,
            format,
            etag: header.etag,
            fetched_at: UNIX_EPOCH + Duration::from_millis(header.fetched_at_ms),
            confirmed_at,
        }))
    }

    /// Records that the CDN vouched for the backup now (a 304 to its ETag): the file's
    /// modification time, which `artifact.backup_max_age_secs` is measured from.
    pub fn confirm(&self) -> std::io::Result<()> {
        OpenOptions::new()
            .write(true)
            .open(self.file())?
            .set_modified(SystemTime::now())
    }
}

fn format_name(format: ArtifactFormat) -> &'static str {
    match format {
        ArtifactFormat::Json => "json",
        ArtifactFormat::Binary => "bin",
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    u64::try_from(crate::clock::epoch_ms(time)).unwrap_or(0)
}

/// FNV-1a, 64 bits: a checksum that is the same in every build (std's hasher is not
/// promised to be), enough to tell a damaged file from a whole one.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(label: &str) -> BackupDir {
        let path =
            std::env::temp_dir().join(format!("offerd-backup-{label}-{}", uuid::Uuid::new_v4()));
        BackupDir::new(path)
    }

    fn sample() -> Backup {
        Backup {
            bytes: br#"{"version": "1.0.0"}"#.to_vec(),
            location: "http://cdn/rules.json".into(),
            format: ArtifactFormat::Json,
            etag: Some("\"v1\"".into()),
            fetched_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            confirmed_at: UNIX_EPOCH,
        }
    }

    #[test]
    fn a_written_backup_reads_back_whole() {
        let dir = dir("roundtrip");
        assert!(dir.read().unwrap().is_none(), "no file, no backup");
        dir.write(&sample()).unwrap();
        let read = dir.read().unwrap().expect("a backup");
        assert_eq!(read.bytes, sample().bytes);
        assert_eq!(read.etag, sample().etag);
        assert_eq!(read.fetched_at, sample().fetched_at);
        assert!(read.confirmed_at > UNIX_EPOCH);
        assert!(!dir.dir.join(TEMP_NAME).exists(), "renamed away");
        std::fs::remove_dir_all(&dir.dir).ok();
    }

    #[test]
    fn torn_and_foreign_files_are_refused_naming_the_file() {
        let dir = dir("torn");
        dir.write(&sample()).unwrap();
        let whole = std::fs::read(dir.file()).unwrap();
        let cases: Vec<Vec<u8>> = vec![
            whole[..whole.len() - 3].to_vec(),
            whole[..MAGIC.len() + 5].to_vec(),
            [&whole[..whole.len() - 1], b"X"].concat(),
            b"{\"version\": \"1.0.0\"}".to_vec(),
            Vec::new(),
            vec![0xff; 4096],
        ];
        for bad in cases {
            std::fs::write(dir.file(), &bad).unwrap();
            let err = dir.read().unwrap_err();
            assert!(err.to_string().contains(FILE_NAME), "{err}");
        }
        std::fs::remove_dir_all(&dir.dir).ok();
    }

    #[test]
    fn confirm_moves_the_modification_time() {
        let dir = dir("confirm");
        dir.write(&sample()).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(dir.file())
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(dir.read().unwrap().unwrap().confirmed_at <= old);
        dir.confirm().unwrap();
        assert!(dir.read().unwrap().unwrap().confirmed_at > old);
        std::fs::remove_dir_all(&dir.dir).ok();
    }
}
