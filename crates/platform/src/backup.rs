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
    /// stopped half-way has left its mark ([`refuse_half_restored`]).
    pub fn for_serving(config: &Config) -> anyhow::Result<Option<Self>> {
        let Ok(database) = sqlite_path(config) else { return Ok(None) };
        refuse_half_restored(config)?;
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
    // Through its components: `file:///data/files/` names the directory `files`.
    config.storage_url().strip_prefix("file://").map(|dir| Path::new(dir).components().collect())
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
                    sync(&target)?;
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
    sync(&copy)?;
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
    write_synced(&dest.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    make_private(&dest.join(MANIFEST))?;
    sync(dest)?;
    Ok(manifest)
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Where what it replaced was moved (empty if there was nothing).
    pub set_aside: Vec<PathBuf>,
}

/// Refuses while a restore that stopped half-way has left its mark in the data directory: the
/// database may not be in place, and opening it would create an empty one.
pub fn refuse_half_restored(config: &Config) -> anyhow::Result<()> {
    let mark = config.data_dir.join(RESTORING);
    match std::fs::read_to_string(&mark) {
        Ok(note) => bail!(
            "a restore in {} did not finish. What it had done:\n{note}\nPut the files back as listed (or finish \
             the renames), then remove {}",
            config.data_dir.display(),
            mark.display()
        ),
        Err(_) => Ok(()),
    }
}

/// The renames of a restore, written to the mark as they happen, so that a restore stopped
/// half-way says what it had done.
struct Renames {
    mark: PathBuf,
    done: Vec<(PathBuf, PathBuf)>,
}

impl Renames {
    /// Renames `from` to `to` if `from` exists, and records it in the mark.
    fn rename(&mut self, from: &Path, to: &Path) -> anyhow::Result<()> {
        if std::fs::symlink_metadata(from).is_err() {
            return Ok(());
        }
        std::fs::rename(from, to).with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        self.done.push((from.to_path_buf(), to.to_path_buf()));
        self.write()
    }

    fn write(&self) -> anyhow::Result<()> {
        let lines: String =
            self.done.iter().map(|(from, to)| format!("moved {} to {}\n", from.display(), to.display())).collect();
        write_synced(&self.mark, lines.as_bytes())
    }

    /// Puts back every rename, newest first; the ones that could not be, as text.
    fn undo(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        while let Some((from, to)) = self.done.pop() {
            if let Err(e) = std::fs::rename(&to, &from) {
                failed.push(format!("{} is still at {}: {e}", from.display(), to.display()));
            }
        }
        failed
    }
}

/// Replaces the embedded database, the stored files and the generated signing secret with the
/// backup in `src`. No server may be running on the database. `known` are this build's
/// migrations: a backup with others, or with other texts of them, was made by another build and
/// is refused. What is replaced is moved to `<name>.before-restore-<time>` beside it.
pub async fn restore(config: &Config, src: &Path, known: &[&[crate::db::Migration]]) -> anyhow::Result<Restored> {
    let database = sqlite_path(config)?;
    refuse_half_restored(config)?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(src.join(MANIFEST)).with_context(|| format!("{} is not a ferrobase backup", src.display()))?,
    )
    .with_context(|| format!("reading {}", src.join(MANIFEST).display()))?;
    ensure!(manifest.format == FORMAT, "backup format {} is not the one this build reads ({FORMAT})", manifest.format);
    ensure!(src.join(DATABASE).is_file(), "{} has no database", src.display());
    let _lock = DataDirLock::acquire(&database)?;

    // Everything is prepared beside its place (so the renames below stay on one file system),
    // written to disk and checked before anything is replaced.
    let incoming = with_suffix(&database, ".restoring");
    remove_database(&incoming)?;
    std::fs::copy(src.join(DATABASE), &incoming).context("copying the database")?;
    make_private(&incoming)?;
    verify(&incoming, Some(known)).await.context("checking the backup's database")?;
    sync(&incoming)?;
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

    // Only renames from here, each recorded in the mark, which keeps the server from starting
    // on a half-done restore.
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
    let aside = |path: &Path| with_suffix(path, &format!(".before-restore-{stamp}"));
    let mut renames = Renames { mark: config.data_dir.join(RESTORING), done: Vec::new() };
    renames.write()?;
    let renamed: anyhow::Result<()> = (|| {
        for suffix in ["", "-wal", "-shm"] {
            // The kept database keeps its log under the name SQLite looks for beside it.
            let path = with_suffix(&database, suffix);
            renames.rename(&path, &with_suffix(&database, &format!(".before-restore-{stamp}{suffix}")))?;
        }
        if let (Some(dir), Some(incoming_files)) = (&files, &incoming_files) {
            renames.rename(dir, &aside(dir))?;
            renames.rename(incoming_files, dir)?;
        }
        if restore_secret {
            renames.rename(&secret, &aside(&secret))?;
            renames.rename(&incoming_secret, &secret)?;
        }
        renames.rename(&incoming, &database)?;
        for dir in [database.parent(), files.as_deref().and_then(Path::parent), Some(config.data_dir.as_path())]
            .into_iter()
            .flatten()
        {
            sync(dir)?;
        }
        Ok(())
    })();
    if let Err(e) = renamed {
        let failed = renames.undo();
        if failed.is_empty() {
            let _ = std::fs::remove_file(&renames.mark);
            return Err(e.context("the restore failed and nothing was changed"));
        }
        let _ = write_synced(&renames.mark, format!("{}\n", failed.join("\n")).as_bytes());
        return Err(e.context(format!("the restore failed half-way: {}", failed.join("; "))));
    }
    let set_aside = renames
        .done
        .iter()
        .map(|(_, to)| to.clone())
        .filter(|to| to.to_string_lossy().contains(".before-restore-"))
        .collect();
    std::fs::remove_file(&renames.mark)?;
    Ok(Restored { manifest, set_aside })
}

/// `path` with `suffix` added to its last component (a trailing `/` does not count).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    match path.file_name() {
        Some(name) => path.with_file_name(format!("{}{suffix}", name.to_string_lossy())),
        None => PathBuf::from(format!("{}{suffix}", path.display())),
    }
}

/// Writes `bytes` to `path` and to the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Flushes a file or a directory (its entries: renames) to the disk.
fn sync(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", path.display()))
}

/// Opens the SQLite file at `path` and runs its quick check; with `known`, also refuses a
/// database with migrations this build does not have, or whose text differs from this build's.
async fn verify(path: &Path, known: Option<&[&[crate::db::Migration]]>) -> anyhow::Result<()> {
    let db = crate::db::connect(&format!("sqlite://{}", path.display()), 2).await?;
    let problems = db.quick_check().await;
    let applied = db.applied_migrations().await;
    db.close().await;
    let problems = problems?;
    ensure!(problems.is_empty(), "the database is damaged: {}", problems.join("; "));
    if let Some(known) = known {
        let foreign: Vec<String> = applied?
            .into_iter()
            .filter(|(module, version, sum)| {
                let ours =
                    known.iter().flat_map(|set| set.iter()).find(|m| m.module == module && m.version == *version);
                match (ours, sum) {
                    (None, _) => true,
                    (Some(m), Some(sum)) => crate::db::checksum(m.sqlite) != *sum,
                    (Some(_), None) => false,
                }
            })
            .map(|(module, version, _)| format!("{module} {version}"))
            .collect();
        ensure!(
            foreign.is_empty(),
            "the backup was made by another ferrobase, a newer one (migrations {} are unknown to this one, or \
             differ); restore it with that version",
            foreign.join(", ")
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
        let config_again = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        assert!(refuse_half_restored(&config_again).is_err(), "every command refuses, not only serve");
        std::fs::remove_file(dir.path().join(RESTORING)).unwrap();
        assert!(DataDirLock::for_serving(&config).unwrap().is_some());
    }

    #[test]
    fn suffixes_go_on_the_last_component_whatever_the_slashes() {
        assert_eq!(with_suffix(Path::new("/data/files/"), ".restoring"), Path::new("/data/files.restoring"));
        assert_eq!(with_suffix(Path::new("data/ferrobase.db"), "-wal"), Path::new("data/ferrobase.db-wal"));
        let config = Config { storage_url: crate::secret::Secret::new("file:///srv/files/"), ..Config::default() };
        assert_eq!(files_dir(&config).unwrap(), Path::new("/srv/files"));
    }

    #[tokio::test]
    async fn a_restore_keeps_the_replaced_database_with_its_log_under_names_sqlite_finds() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        let url = config.database_url();
        let db = crate::db::connect(&url, 2).await.unwrap();
        crate::db::migrate(&db, &[crate::MIGRATIONS]).await.unwrap();
        db.close().await;
        let dest = dir.path().join("backup");
        backup(&config, &dest).await.unwrap();
        // A log left by a server that was killed: it belongs to the database it sits beside.
        let database = config.data_dir.join("ferrobase.db");
        std::fs::write(with_suffix(&database, "-wal"), b"the killed server's last writes").unwrap();
        let restored = restore(&config, &dest, &[crate::MIGRATIONS]).await.unwrap();
        let kept = restored.set_aside.iter().find(|p| p.to_string_lossy().ends_with("-wal")).unwrap();
        let name = kept.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("ferrobase.db.before-restore-") && name.ends_with("Z-wal"), "{name}");
        let kept_db = restored.set_aside.iter().find(|p| with_suffix(p, "-wal") == *kept);
        assert!(kept_db.is_some(), "the log is named after the kept database: {:?}", restored.set_aside);
        assert!(database.is_file() && !config.data_dir.join(RESTORING).exists());
        // Another build's text of a migration this one has: refused.
        let mut edited = crate::MIGRATIONS.to_vec();
        edited[0].sqlite = "SELECT 1";
        let refused = restore(&config, &dest, &[&edited]).await.unwrap_err();
        assert!(format!("{refused:#}").contains("another ferrobase"), "{refused:#}");
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
