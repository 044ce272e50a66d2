//! `ferrobase backup` and `ferrobase restore` for the embedded mode: the SQLite database, the
//! stored files and the generated signing secret, copied into a directory and back.
//!
//! The database copy is consistent and taken while the server runs (see
//! [`crate::db::Db::snapshot_into`]). Files are copied before it and again after it, new ones only: a file
//! is stored before the row that names it commits and deleted only after that row is gone, so
//! every file the database copy names was there for one of the two passes (unless it was
//! created and deleted again while the backup ran). PostgreSQL and S3 keep their data
//! themselves; their own tools back them up (README "Deploy").
//!
//! A restore needs the server stopped: [`DataDirLock`] is held by a serving process, and
//! restore takes it too. What a restore replaces is moved aside, never deleted.

use crate::config::Config;
use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version of the backup layout this build writes and reads.
const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "ferrobase.db";
const FILES: &str = "files";
const SECRET: &str = "jwt-secret";
const LOCK: &str = "ferrobase.lock";

/// What a backup holds (`manifest.json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// The ferrobase version that wrote it.
    pub version: String,
    /// When the database copy was taken (RFC 3339).
    pub taken_at: String,
    /// Stored files copied (0 when files live in an S3 store).
    pub files: u64,
    /// Their total size in bytes.
    pub file_bytes: u64,
    /// Whether the generated signing secret was copied (not when it is configured).
    pub signing_secret: bool,
}

/// An exclusive lock on the data directory (`<data dir>/ferrobase.lock`), held by a server
/// serving the embedded database and by a restore, so that neither runs under the other.
/// The operating system lets it go when the process ends, however it ends.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    /// The lock a server takes before it serves: on the data directory with the embedded
    /// database, none with PostgreSQL (whose instances may share a data directory).
    pub fn for_serving(config: &Config) -> anyhow::Result<Option<Self>> {
        if config.database_url().starts_with("sqlite:") { Self::acquire(&config.data_dir).map(Some) } else { Ok(None) }
    }

    /// Takes the lock, or says which process of this data directory holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let path = data_dir.join(LOCK);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another ferrobase process is using {} (a server is running on it); stop it first",
                data_dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

/// The SQLite file of the configured database, or an error naming the tools for PostgreSQL.
fn sqlite_path(config: &Config) -> anyhow::Result<PathBuf> {
    let url = config.database_url();
    match url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        Some(path) if !path.starts_with(":memory:") => Ok(PathBuf::from(path.split('?').next().unwrap_or(path))),
        Some(_) => bail!("an in-memory database has nothing to back up"),
        None => bail!(
            "backup and restore cover the embedded SQLite database; back up PostgreSQL with pg_dump \
             (and pg_restore), and an S3 store with its own tools (README \"Deploy\")"
        ),
    }
}

/// The directory of a `file://` store; None for S3.
fn files_dir(config: &Config) -> Option<PathBuf> {
    config.storage_url().strip_prefix("file://").map(PathBuf::from)
}

/// Copies the files under `from` that `to` does not have yet; answers (files, bytes) copied.
/// Files being written by the store (`name#n`, renamed into place when complete) are skipped.
fn copy_new_files(from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    if !from.is_dir() {
        return Ok((0, 0));
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let (f, b) = copy_new_files(&source, &target)?;
            files += f;
            bytes += b;
        } else if kind.is_file() && !name.to_string_lossy().contains('#') && !target.exists() {
            // A file deleted since the directory was read is no longer wanted.
            match std::fs::copy(&source, &target) {
                Ok(n) => {
                    files += 1;
                    bytes += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("copying {}", source.display())),
            }
        }
    }
    Ok((files, bytes))
}

/// Writes a backup of the embedded database, the stored files and the generated signing secret
/// into `dest`, a directory that must not exist yet or be empty. The server may be running.
pub async fn backup(config: &Config, dest: &Path) -> anyhow::Result<Manifest> {
    let database = sqlite_path(config)?;
    ensure!(database.is_file(), "there is no database at {}", database.display());
    if dest.exists() {
        let empty = std::fs::read_dir(dest).with_context(|| format!("reading {}", dest.display()))?.next().is_none();
        ensure!(empty, "{} exists and is not empty; name a new directory", dest.display());
    }
    create_private_dir(dest)?;
    let files_dir = files_dir(config);
    let mut copied = (0, 0);
    if let Some(dir) = &files_dir {
        copied = copy_new_files(dir, &dest.join(FILES))?;
    }
    let db = crate::db::connect(&format!("sqlite://{}", database.display()), 2).await?;
    let taken_at = chrono::Utc::now().to_rfc3339();
    db.snapshot_into(&dest.join(DATABASE)).await.context("copying the database")?;
    db.close().await;
    if let Some(dir) = &files_dir {
        let (f, b) = copy_new_files(dir, &dest.join(FILES))?;
        copied = (copied.0 + f, copied.1 + b);
    }
    verify(&dest.join(DATABASE)).await.context("checking the copy")?;
    let secret = config.data_dir.join(SECRET);
    let signing_secret = config.jwt_secret.is_empty() && secret.is_file();
    if signing_secret {
        copy_private(&secret, &dest.join(SECRET))?;
    }
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        taken_at,
        files: copied.0,
        file_bytes: copied.1,
        signing_secret,
    };
    std::fs::write(dest.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Where the database, files and secret it replaced were moved (None if there were none).
    pub set_aside: Option<PathBuf>,
}

/// Replaces the embedded database, the stored files and the generated signing secret with the
/// backup in `src`. No server may be running on the data directory; what is replaced is moved
/// into `<data dir>/before-restore-<time>`.
pub async fn restore(config: &Config, src: &Path) -> anyhow::Result<Restored> {
    let database = sqlite_path(config)?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(src.join(MANIFEST)).with_context(|| format!("{} is not a ferrobase backup", src.display()))?,
    )
    .with_context(|| format!("reading {}", src.join(MANIFEST).display()))?;
    ensure!(manifest.format == FORMAT, "backup format {} is not the one this build reads ({FORMAT})", manifest.format);
    ensure!(src.join(DATABASE).is_file(), "{} has no database", src.display());
    let _lock = DataDirLock::acquire(&config.data_dir)?;

    // The copy is checked where it will live, before anything is replaced.
    let incoming = database.with_extension("db.restoring");
    remove_database(&incoming)?;
    if let Some(parent) = database.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(src.join(DATABASE), &incoming).context("copying the database")?;
    verify(&incoming).await.context("checking the backup's database")?;

    let aside = config.data_dir.join(format!("before-restore-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let mut moved = false;
    let mut set_aside = |path: &Path, name: &str| -> anyhow::Result<()> {
        if path.exists() {
            create_private_dir(&aside)?;
            std::fs::rename(path, aside.join(name)).with_context(|| format!("moving {} aside", path.display()))?;
            moved = true;
        }
        Ok(())
    };
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", database.display()));
        set_aside(&path, &format!("{DATABASE}{suffix}"))?;
    }
    if let Some(dir) = files_dir(config) {
        set_aside(&dir, FILES)?;
        copy_new_files(&src.join(FILES), &dir)?;
        std::fs::create_dir_all(&dir)?;
    }
    let secret = src.join(SECRET);
    if secret.is_file() && config.jwt_secret.is_empty() {
        set_aside(&config.data_dir.join(SECRET), SECRET)?;
        copy_private(&secret, &config.data_dir.join(SECRET))?;
    }
    std::fs::rename(&incoming, &database).context("putting the database in place")?;
    Ok(Restored { manifest, set_aside: moved.then_some(aside) })
}

/// Opens the SQLite file at `path` and runs its quick check.
async fn verify(path: &Path) -> anyhow::Result<()> {
    let db = crate::db::connect(&format!("sqlite://{}", path.display()), 2).await?;
    let problems = db.quick_check().await;
    db.close().await;
    let problems = problems?;
    ensure!(problems.is_empty(), "the database is damaged: {}", problems.join("; "));
    Ok(())
}

fn remove_database(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", file.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A directory only its owner reads: a backup holds every account's data.
fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))
}

fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_data_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let second = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(second.contains("stop it first"), "{second}");
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn postgres_is_pointed_to_its_own_tools() {
        let config =
            Config { database_url: crate::secret::Secret::new("postgres://u@localhost/db"), ..Config::default() };
        assert!(sqlite_path(&config).unwrap_err().to_string().contains("pg_dump"));
    }

    #[test]
    fn copying_skips_files_being_written_and_those_already_there() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(from.path().join("a/b")).unwrap();
        std::fs::write(from.path().join("a/b/one"), "1").unwrap();
        std::fs::write(from.path().join("a/two#3"), "partial").unwrap();
        assert_eq!(copy_new_files(from.path(), to.path()).unwrap(), (1, 1));
        assert!(!to.path().join("a/two#3").exists());
        std::fs::write(from.path().join("a/three"), "333").unwrap();
        assert_eq!(copy_new_files(from.path(), to.path()).unwrap(), (1, 3), "only the new file");
    }
}
