//! Uploads: the one way a module takes files. The [`Upload`] extractor streams each multipart
//! file part to a staging file on disk (never whole into memory), stops at the size limit,
//! decides the type from the first bytes (never from the name or the declared type) and, for
//! images, reads the pixel count from the header before anything is decoded. What it hands the
//! handler is a set of [`Received`] files, deleted from staging when dropped.
//!
//! An endpoint says what it takes with an [`UploadRules`] type; the limits come from the
//! configuration through [`Uploads`].

use crate::error::{DomainError, ErrorKind, FieldError};
use crate::images::{self, ImageError, ImageKind, ImageWorkers};
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRef, FromRequest, Multipart, Request};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use tokio::io::AsyncWriteExt;

/// A file type we recognise by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A JPEG, PNG or WebP image.
    Image(ImageKind),
    /// A PDF document.
    Pdf,
}

impl FileKind {
    /// The kind of a file from its first bytes.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if let Some(kind) = ImageKind::sniff(head) {
            Some(Self::Image(kind))
        } else if head.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else {
            None
        }
    }

    /// The MIME type it is served with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Image(kind) => kind.mime(),
            Self::Pdf => "application/pdf",
        }
    }

    /// The extension of keys that hold it (keys are ours, so the extension is the type).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Image(kind) => kind.extension(),
            Self::Pdf => "pdf",
        }
    }

    /// The kind behind a key's extension.
    pub fn from_key(key: &str) -> Option<Self> {
        match key.rsplit_once('.')?.1 {
            "jpg" => Some(Self::Image(ImageKind::Jpeg)),
            "png" => Some(Self::Image(ImageKind::Png)),
            "webp" => Some(Self::Image(ImageKind::Webp)),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }
}

/// What one endpoint takes, as a type so that it can parameterise the extractor.
pub trait UploadRules: Send + Sync + 'static {
    /// The form field that carries the files.
    const FIELD: &'static str;
    /// Fewest files.
    const MIN_FILES: usize = 1;
    /// Most files.
    const MAX_FILES: usize = 1;
    /// Whether images only are taken (changes the error code callers see).
    const IMAGES_ONLY: bool = true;
    /// Whether a file of `kind` is taken.
    fn accepts(kind: FileKind) -> bool {
        matches!(kind, FileKind::Image(_))
    }
}

/// The configured limits and the bounded image workers.
#[derive(Debug, Clone)]
pub struct Uploads {
    /// Largest file in bytes.
    pub max_file_bytes: u64,
    /// Most pixels (width × height) of an image.
    pub max_pixels: u64,
    /// Where image header checks and decoding run.
    pub images: ImageWorkers,
    /// Where files are staged while they arrive (under the data dir, not a RAM-backed `/tmp`).
    pub staging: std::path::PathBuf,
}

/// Longest text field of an upload form.
const MAX_TEXT_FIELD: usize = 4 * 1024;
/// Most text fields of an upload form.
const MAX_TEXT_FIELDS: usize = 16;

/// A file received and staged on disk.
#[derive(Debug)]
pub struct Received {
    /// The name the client gave it (informative only; never used as a key or a path).
    pub file_name: Option<String>,
    /// Its type, from its content.
    pub kind: FileKind,
    /// Its size in bytes.
    pub size: u64,
    /// Width and height, for images (read from the header).
    pub dimensions: Option<(u32, u32)>,
    path: tempfile::TempPath,
}

impl Received {
    /// Where it is staged (it is removed when `self` is dropped).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Streams it to `storage` under `key` (a key the module generated, ending in
    /// [`FileKind::extension`] so that it is served with the right type).
    pub async fn store(
        &self,
        storage: &crate::storage::Storage,
        key: &str,
    ) -> Result<(), crate::storage::StorageError> {
        storage.put_file(key, &self.path).await
    }
}

/// A parsed upload form: its files and its short text fields.
#[derive(Debug)]
pub struct Upload<R> {
    /// The files of [`UploadRules::FIELD`], in the order sent.
    pub files: Vec<Received>,
    /// Other fields, as text.
    pub fields: BTreeMap<String, String>,
    _rules: PhantomData<R>,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Not a multipart body, or a broken one.
    #[error("Send multipart/form-data: {0}")]
    Multipart(String),
    /// A file or the body is over its limit.
    #[error("The upload is too large (at most {limit} bytes per file).")]
    TooLarge {
        /// The per-file limit.
        limit: u64,
    },
    /// Too few or too many files, or a text field too long.
    #[error("{field} {why}")]
    Field {
        /// The form field.
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// A file of a type this endpoint does not take.
    #[error("{field}: this type of file is not accepted.")]
    Unsupported {
        /// The form field.
        field: &'static str,
        /// Whether the endpoint takes images only.
        images_only: bool,
    },
    /// An image refused from its header.
    #[error("{field}: {source}")]
    Image {
        /// The form field.
        field: &'static str,
        /// Why.
        source: ImageError,
    },
    /// Staging or checking failed on our side.
    #[error("staging an upload: {0}")]
    Io(#[from] std::io::Error),
    /// The header check could not run (its worker failed).
    #[error(transparent)]
    Internal(#[from] crate::error::Internal),
}

impl DomainError for UploadError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Multipart(_) => ErrorKind::BadRequest,
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::Field { .. } | Self::Image { .. } => ErrorKind::Invalid,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Io(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Multipart(_) => "invalid_multipart",
            Self::TooLarge { .. } => "payload_too_large",
            Self::Field { .. } => "validation_failed",
            Self::Unsupported { images_only: true, .. } => "unsupported_image_type",
            Self::Unsupported { images_only: false, .. } => "unsupported_file_type",
            Self::Image { source: ImageError::TooManyPixels { .. }, .. } => "image_too_large",
            Self::Image { .. } => "invalid_image",
            Self::Io(_) | Self::Internal(_) => "internal_error",
        }
    }
    fn fields(&self) -> Vec<FieldError> {
        match self {
            Self::Field { field, why } => vec![FieldError::new(field, why.clone())],
            Self::Image { field, source } => vec![FieldError::new(*field, source.to_string())],
            _ => Vec::new(),
        }
    }
}

impl<S, R> FromRequest<S> for Upload<R>
where
    S: Send + Sync,
    Uploads: FromRef<S>,
    R: UploadRules,
{
    type Rejection = crate::ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let uploads = Uploads::from_ref(state);
        let multipart = Multipart::from_request(req, state).await.map_err(|e| {
            UploadError::Multipart(format!("{} (a `{}` file part is expected)", e.body_text(), R::FIELD))
        })?;
        Ok(uploads.read::<R>(multipart).await?)
    }
}

impl Uploads {
    /// A received image as it is stored ([`images::clean`]: upright, at most `max_side`,
    /// re-encoded without its metadata, with a thumbnail of side `thumbnail` if asked), made on
    /// the bounded image workers. The file is read inside the job, so uploads waiting for a
    /// worker hold no memory. The outer error is ours, the inner one the image's.
    pub async fn clean(
        &self,
        file: Received,
        max_side: u32,
        thumbnail: Option<u32>,
    ) -> Result<Result<images::Clean, ImageError>, crate::error::Internal> {
        let options = images::CleanOptions { max_pixels: self.max_pixels, max_side, thumbnail };
        self.images
            .run(move || {
                let bytes = std::fs::read(file.path()).map_err(crate::error::Internal::new)?;
                Ok(images::clean(&bytes, options))
            })
            .await?
    }

    /// The body limit for a route under `R`: its files at the file limit, plus room for the
    /// form's text fields and part headers.
    pub fn body_limit<R: UploadRules>(&self) -> usize {
        let files = usize::try_from(self.max_file_bytes).unwrap_or(usize::MAX).saturating_mul(R::MAX_FILES);
        files.saturating_add(MAX_TEXT_FIELDS * MAX_TEXT_FIELD + 64 * 1024)
    }

    /// A broken body, or the route's body limit (reported as the per-file limit, which is the
    /// one the caller can act on).
    fn multipart_error(&self, e: MultipartError) -> UploadError {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge { limit: self.max_file_bytes }
        } else {
            UploadError::Multipart(e.body_text())
        }
    }

    /// Reads every part of `multipart` under `R`'s rules.
    pub async fn read<R: UploadRules>(&self, mut multipart: Multipart) -> Result<Upload<R>, UploadError> {
        let mut files = Vec::new();
        let mut fields = BTreeMap::new();
        while let Some(field) = multipart.next_field().await.map_err(|e| self.multipart_error(e))? {
            let name = field.name().unwrap_or_default().to_string();
            if name == R::FIELD {
                if files.len() == R::MAX_FILES {
                    return Err(UploadError::Field {
                        field: name,
                        why: format!("takes at most {} file(s)", R::MAX_FILES),
                    });
                }
                files.push(self.stage::<R>(field).await?);
            } else if field.file_name().is_some() {
                return Err(UploadError::Field {
                    field: name,
                    why: format!("is not taken; send files as `{}`", R::FIELD),
                });
            } else {
                if fields.len() == MAX_TEXT_FIELDS {
                    return Err(UploadError::Field { field: name, why: "is one field too many".into() });
                }
                let text = self.read_text(field, &name).await?;
                fields.insert(name, text);
            }
        }
        if files.len() < R::MIN_FILES {
            let why = if R::MIN_FILES == 1 {
                "is required".to_string()
            } else {
                format!("needs at least {} files", R::MIN_FILES)
            };
            return Err(UploadError::Field { field: R::FIELD.into(), why });
        }
        Ok(Upload { files, fields, _rules: PhantomData })
    }

    /// Streams one file part to a staging file, refusing it as soon as it is over the limit or
    /// its first bytes show a type `R` does not take.
    async fn stage<R: UploadRules>(&self, mut field: Field<'_>) -> Result<Received, UploadError> {
        let file_name = field.file_name().map(|n| n.chars().take(255).collect());
        let (file, path) = tempfile::Builder::new().prefix("upload-").tempfile_in(&self.staging)?.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut head = Vec::with_capacity(64);
        let mut kind = None;
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(|e| self.multipart_error(e))? {
            size += chunk.len() as u64;
            if size > self.max_file_bytes {
                return Err(UploadError::TooLarge { limit: self.max_file_bytes });
            }
            if kind.is_none() {
                head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
                if head.len() >= 16 {
                    kind = Some(sniff::<R>(&head)?);
                }
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        drop(file);
        if size == 0 {
            return Err(UploadError::Field { field: R::FIELD.into(), why: "is an empty file".into() });
        }
        let kind = match kind {
            Some(kind) => kind,
            None => sniff::<R>(&head)?,
        };
        let dimensions = match kind {
            FileKind::Image(image) => Some(self.header::<R>(&path, image).await?),
            FileKind::Pdf => None,
        };
        Ok(Received { file_name, kind, size, dimensions, path })
    }

    /// Width and height from a staged image's header (what precedes the pixel data, within a
    /// small memory cap; nothing is decoded), on the image workers.
    async fn header<R: UploadRules>(&self, path: &std::path::Path, kind: ImageKind) -> Result<(u32, u32), UploadError> {
        let file = std::fs::File::open(path)?;
        let max = self.max_pixels;
        self.images
            .run(move || images::check_header(std::io::BufReader::new(file), kind, max))
            .await?
            .map_err(|source| UploadError::Image { field: R::FIELD, source })
    }

    /// A short text field of the form.
    async fn read_text(&self, mut field: Field<'_>, name: &str) -> Result<String, UploadError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| self.multipart_error(e))? {
            if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
                return Err(UploadError::Field {
                    field: name.into(),
                    why: format!("is longer than {MAX_TEXT_FIELD} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        String::from_utf8(bytes).map_err(|_| UploadError::Field { field: name.into(), why: "is not UTF-8 text".into() })
    }
}

fn sniff<R: UploadRules>(head: &[u8]) -> Result<FileKind, UploadError> {
    FileKind::sniff(head)
        .filter(|kind| R::accepts(*kind))
        .ok_or(UploadError::Unsupported { field: R::FIELD, images_only: R::IMAGES_ONLY })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Documents;

    impl UploadRules for Documents {
        const FIELD: &'static str = "files";
        const MAX_FILES: usize = 2;
        const IMAGES_ONLY: bool = false;
        fn accepts(kind: FileKind) -> bool {
            kind == FileKind::Pdf
        }
    }

    fn uploads(max_file_bytes: u64) -> Uploads {
        Uploads { max_file_bytes, max_pixels: 1_000_000, images: ImageWorkers::new(1), staging: std::env::temp_dir() }
    }

    /// A multipart request with `parts` of (field, file name, body).
    fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Request {
        let mut body = Vec::new();
        for (name, file, bytes) in parts {
            body.extend_from_slice(b"--XyZ\r\n");
            let disposition = match file {
                Some(f) => format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\r\n"),
                None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
            };
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        Request::builder()
            .method("POST")
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(axum::body::Body::from(body))
            .unwrap()
    }

    async fn read(uploads: &Uploads, req: Request) -> Result<Upload<Documents>, UploadError> {
        let multipart = Multipart::from_request(req, &()).await.unwrap();
        uploads.read::<Documents>(multipart).await
    }

    #[tokio::test]
    async fn files_are_staged_checked_and_streamed_on() {
        let pdf = b"%PDF-1.7 a small document".as_slice();
        let up = read(&uploads(1024), form(&[("title", None, b"Q3"), ("files", Some("a.pdf"), pdf)])).await.unwrap();
        assert_eq!(up.fields["title"], "Q3");
        let file = &up.files[0];
        assert_eq!((file.kind, file.size, file.file_name.as_deref()), (FileKind::Pdf, pdf.len() as u64, Some("a.pdf")));
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::Storage::from_url(&format!("file://{}", dir.path().display())).unwrap();
        file.store(&storage, "docs/a.pdf").await.unwrap();
        assert_eq!(storage.get("docs/a.pdf").await.unwrap().unwrap().as_ref(), pdf);
        let staged = file.path().to_path_buf();
        drop(up);
        assert!(!staged.exists(), "the staging file goes with the upload");

        let too_big = vec![b'%'; 2000];
        let err = read(&uploads(1024), form(&[("files", Some("big.pdf"), &too_big)])).await.unwrap_err();
        assert!(matches!(err, UploadError::TooLarge { limit: 1024 }), "{err:?}");
        let err =
            read(&uploads(1024), form(&[("files", Some("x.pdf"), b"<html><body>hi</body></html>")])).await.unwrap_err();
        assert_eq!(err.code(), "unsupported_file_type");
        let three = [("files", Some("1.pdf"), pdf), ("files", Some("2.pdf"), pdf), ("files", Some("3.pdf"), pdf)];
        assert_eq!(read(&uploads(1024), form(&three)).await.unwrap_err().code(), "validation_failed");
        let err = read(&uploads(1024), form(&[("title", None, b"no file")])).await.unwrap_err();
        assert!(matches!(err, UploadError::Field { ref field, .. } if field == "files"), "{err:?}");
        let err = read(&uploads(1024), form(&[("other", Some("o.pdf"), pdf)])).await.unwrap_err();
        assert!(matches!(err, UploadError::Field { ref field, .. } if field == "other"), "{err:?}");
        let err = read(&uploads(1024), form(&[("files", Some("empty.pdf"), b"")])).await.unwrap_err();
        assert!(matches!(err, UploadError::Field { ref why, .. } if why.contains("empty")), "{err:?}");
        let long = vec![b'a'; MAX_TEXT_FIELD + 1];
        assert_eq!(
            read(&uploads(1024), form(&[("title", None, &long)])).await.unwrap_err().code(),
            "validation_failed"
        );
    }

    #[test]
    fn kinds_come_from_content_and_keys() {
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n"), Some(FileKind::Pdf));
        assert_eq!(FileKind::sniff(b"\x89PNG\r\n\x1a\n...."), Some(FileKind::Image(ImageKind::Png)));
        assert_eq!(FileKind::sniff(b"<html>"), None);
        assert_eq!(FileKind::from_key("a/b.webp"), Some(FileKind::Image(ImageKind::Webp)));
        assert_eq!(FileKind::from_key("a/b.pdf").map(FileKind::mime), Some("application/pdf"));
        assert_eq!(FileKind::from_key("a/b.html"), None);
        assert_eq!(FileKind::from_key("noext"), None);
    }
}
