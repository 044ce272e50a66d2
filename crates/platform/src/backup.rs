//! `ferrobase backup` and `ferrobase restore` for the embedded mode: the SQLite database, the
//! stored files and the generated signing secret, copied into a directory and back.
//!
//! The database copy is consistent and taken while the server runs (see
//! [`crate::db::Db::snapshot_into`]). Files are copied before it and again after it, new ones
//! only: a file is stored before the row that names it commits and deleted only after that row
//! is gone, so every file the database copy names was there for one of the two passes (unless
//! it was created and deleted again while the backup ran). PostgreSQL and S3 keep their data
//! themselves; their own tools back them up (README "Deploy").
//!
//! A restore needs the server stopped: [`DataDirLock`] is held by a serving process, and
//! restore takes it too. It prepares everything beside its place first and then only renames;
//! what it replaces is moved aside, never deleted, and a restore that stopped half-way leaves a
//! mark that keeps the server from starting on a database that is not there.

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
/// Left in the data directory while a restore renames things into place.
const RESTORING: &str = "restore-in-progress";

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

/// An exclusive lock on the embedded database (`<database>.lock` beside it), held by a
/// serving process and by a restore, so that neither runs under the other and two servers
/// never share one database file. The operating system lets it go when the process ends,
/// however it ends.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    /// The lock a server takes before it serves: on the embedded database, none with
    /// PostgreSQL (whose instances may share a data directory). Refused while a restore that
    /// stopped half-way has left its mark.
    pub fn for_serving(config: &Config) -> anyhow::Result<Option<Self>> {
        let Ok(database) = sqlite_path(config) else { return Ok(None) };
        let mark = config.data_dir.join(RESTORING);
        if let Ok(note) = std::fs::read_to_string(&mark) {
            bail!(
                "a restore of {} did not finish: {note}\nRun the restore again, or put those files back and \
                 remove {}",
                config.data_dir.display(),
                mark.display()
            );
        }
        Self::acquire(&database).map(Some)
    }

    /// Takes the lock of the database at `database`, or says that another process holds it.
    pub fn acquire(database: &Path) -> anyhow::Result<Self> {
        let path = PathBuf::from(format!("{}.lock", database.display()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
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
                database.display()
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

/// Copies the regular files under `from` that `to` does not have yet, readable by their owner
/// only; answers (files, bytes) copied. Links are not followed, and files being written by the
/// store (`name#n`, renamed into place when complete) are skipped.
fn copy_new_files(from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    if !from.is_dir() {
        return Ok((0, 0));
    }
    create_private_dir(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let (f, b) = copy_new_files(&source, &target)?;
            files += f;
            bytes += b;
        } else if kind.is_file() && !being_written(&name.to_string_lossy()) && !target.exists() {
            // A file deleted since the directory was read is no longer wanted.
            match std::fs::copy(&source, &target) {
                Ok(n) => {
                    make_private(&target)?;
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

/// object_store writes a file as `name#n` and renames it into place when it is whole.
fn being_written(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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
    let copy = dest.join(DATABASE);
    db.snapshot_into(&copy).await.context("copying the database")?;
    db.close().await;
    make_private(&copy)?;
    if let Some(dir) = &files_dir {
        let (f, b) = copy_new_files(dir, &dest.join(FILES))?;
        copied = (copied.0 + f, copied.1 + b);
    }
    verify(&copy, None).await.context("checking the copy")?;
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
    // Written last: a directory without it is an unfinished backup, which restore refuses.
    std::fs::write(dest.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    make_private(&dest.join(MANIFEST))?;
    Ok(manifest)
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Where what it replaced was moved (None if there was nothing).
    pub set_aside: Vec<PathBuf>,
}

/// One rename of a restore, undone if a later one fails.
struct Moved {
    from: PathBuf,
    to: PathBuf,
}

/// Renames `from` to `to` (if `from` exists), recording it in `done`.
fn rename(from: &Path, to: &Path, done: &mut Vec<Moved>) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(from).is_err() {
        return Ok(());
    }
    std::fs::rename(from, to).with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    done.push(Moved { from: from.to_path_buf(), to: to.to_path_buf() });
    Ok(())
}

/// Replaces the embedded database, the stored files and the generated signing secret with the
/// backup in `src`. No server may be running on the database. `known` are this build's
/// migrations: a backup with others was made by a newer ferrobase and is refused. What is
/// replaced is moved to `<name>.before-restore-<time>` beside it.
pub async fn restore(config: &Config, src: &Path, known: &[&[crate::db::Migration]]) -> anyhow::Result<Restored> {
    let database = sqlite_path(config)?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(src.join(MANIFEST)).with_context(|| format!("{} is not a ferrobase backup", src.display()))?,
    )
    .with_context(|| format!("reading {}", src.join(MANIFEST).display()))?;
    ensure!(manifest.format == FORMAT, "backup format {} is not the one this build reads ({FORMAT})", manifest.format);
    ensure!(src.join(DATABASE).is_file(), "{} has no database", src.display());
    let _lock = DataDirLock::acquire(&database)?;

    // Everything is prepared beside its place (so the renames below stay on one file system)
    // and checked before anything is replaced.
    let incoming = with_suffix(&database, ".restoring");
    remove_database(&incoming)?;
    std::fs::copy(src.join(DATABASE), &incoming).context("copying the database")?;
    make_private(&incoming)?;
    verify(&incoming, Some(known)).await.context("checking the backup's database")?;
    let files = files_dir(config);
    let incoming_files = files.as_ref().map(|dir| with_suffix(dir, ".restoring"));
    if let (Some(dir), Some(incoming_files)) = (&files, &incoming_files) {
        if incoming_files.exists() {
            std::fs::remove_dir_all(incoming_files)
                .with_context(|| format!("removing {}", incoming_files.display()))?;
        }
        copy_new_files(&src.join(FILES), incoming_files)?;
        create_private_dir(incoming_files)?;
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
    }
    let secret = config.data_dir.join(SECRET);
    let incoming_secret = with_suffix(&secret, ".restoring");
    let restore_secret = src.join(SECRET).is_file() && config.jwt_secret.is_empty();
    if restore_secret {
        copy_private(&src.join(SECRET), &incoming_secret)?;
    }

    // Only renames from here; the mark keeps a server from starting on a half-done restore.
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let aside = |path: &Path| with_suffix(path, &format!(".before-restore-{stamp}"));
    let mark = config.data_dir.join(RESTORING);
    std::fs::write(
        &mark,
        format!(
            "replaced files were being moved to *.before-restore-{stamp} and the backup's from *.restoring, \
             beside {} and {}",
            database.display(),
            files.as_ref().map_or("-".into(), |f| f.display().to_string())
        ),
    )?;
    let mut done = Vec::new();
    let renamed: anyhow::Result<()> = (|| {
        for suffix in ["", "-wal", "-shm"] {
            let path = with_suffix(&database, suffix);
            rename(&path, &aside(&path), &mut done)?;
        }
        if let (Some(dir), Some(incoming_files)) = (&files, &incoming_files) {
            rename(dir, &aside(dir), &mut done)?;
            rename(incoming_files, dir, &mut done)?;
        }
        if restore_secret {
            rename(&secret, &aside(&secret), &mut done)?;
            rename(&incoming_secret, &secret, &mut done)?;
        }
        rename(&incoming, &database, &mut done)
    })();
    if let Err(e) = renamed {
        // Put back what was moved, newest first; the mark stays if that fails too.
        let undone = done.iter().rev().all(|m| std::fs::rename(&m.to, &m.from).is_ok());
        if undone {
            let _ = std::fs::remove_file(&mark);
        }
        return Err(e.context(if undone { "nothing was changed" } else { "the restore is half done" }));
    }
    std::fs::remove_file(&mark)?;
    let set_aside =
        done.into_iter().filter(|m| m.to.to_string_lossy().contains(".before-restore-")).map(|m| m.to).collect();
    Ok(Restored { manifest, set_aside })
}

/// `path` with `suffix` added to its last component.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Opens the SQLite file at `path` and runs its quick check; with `known`, also refuses a
/// database with migrations this build does not have.
async fn verify(path: &Path, known: Option<&[&[crate::db::Migration]]>) -> anyhow::Result<()> {
    let db = crate::db::connect(&format!("sqlite://{}", path.display()), 2).await?;
    let problems = db.quick_check().await;
    let applied = db.applied_migrations().await;
    db.close().await;
    let problems = problems?;
    ensure!(problems.is_empty(), "the database is damaged: {}", problems.join("; "));
    if let Some(known) = known {
        let newer: Vec<String> = applied?
            .into_iter()
            .filter(|(module, version)| {
                !known.iter().flat_map(|set| set.iter()).any(|m| m.module == module && m.version == *version)
            })
            .map(|(module, version)| format!("{module} {version}"))
            .collect();
        ensure!(
            newer.is_empty(),
            "the backup was made by a newer ferrobase (migrations {} are unknown to this one); restore it with that version",
            newer.join(", ")
        );
    }
    Ok(())
}

fn remove_database(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = with_suffix(path, suffix);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", file.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A directory only its owner reads: a backup holds every account's data. An existing one
/// (an empty directory named for the backup) is narrowed too.
fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", path.display()))
}

fn make_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    make_private(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_database_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("data/ferrobase.db");
        let first = DataDirLock::acquire(&database).unwrap();
        let second = DataDirLock::acquire(&database).unwrap_err().to_string();
        assert!(second.contains("stop it first"), "{second}");
        drop(first);
        DataDirLock::acquire(&database).unwrap();
    }

    #[test]
    fn a_half_done_restore_keeps_the_server_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        std::fs::write(dir.path().join(RESTORING), "moved to x.before-restore-1").unwrap();
        let refused = DataDirLock::for_serving(&config).unwrap_err().to_string();
        assert!(refused.contains("did not finish") && refused.contains("x.before-restore-1"), "{refused}");
        std::fs::remove_file(dir.path().join(RESTORING)).unwrap();
        assert!(DataDirLock::for_serving(&config).unwrap().is_some());
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
        std::fs::write(from.path().join("a/C#sharp"), "#").unwrap();
        assert_eq!(copy_new_files(from.path(), to.path()).unwrap(), (2, 2));
        assert!(!to.path().join("a/two#3").exists() && to.path().join("a/C#sharp").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(to.path().join("a/b/one")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "copies are their owner's alone");
        std::fs::write(from.path().join("a/three"), "333").unwrap();
        assert_eq!(copy_new_files(from.path(), to.path()).unwrap(), (1, 3), "only the new file");
        assert!(being_written("x#12") && !being_written("x#") && !being_written("x#a1"));
    }
}
