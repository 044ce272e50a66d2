//! Outgoing SMS: `file://DIR` writes one text file per message (the embedded default and what
//! tests read), `log:` writes a log line without the body (codes must not reach logs).

use std::path::PathBuf;

/// One text message.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sms {
    /// E.164 number.
    pub to: String,
    /// The text.
    pub body: String,
}

/// Where SMS go.
#[derive(Debug, Clone)]
pub enum SmsSender {
    /// Files in a directory.
    File(PathBuf),
    /// A log line only.
    Log,
}

/// SMS configuration or delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The URL names no supported transport.
    #[error("unsupported sms url: {0}")]
    Unsupported(String),
    /// Writing failed.
    #[error("sms delivery failed: {0}")]
    Io(#[from] std::io::Error),
}

impl SmsSender {
    /// The sender for `url`.
    pub fn from_url(url: &str) -> Result<Self, SmsError> {
        if let Some(dir) = url.strip_prefix("file://") {
            Ok(SmsSender::File(PathBuf::from(dir)))
        } else if url == "log:" {
            Ok(SmsSender::Log)
        } else {
            Err(SmsError::Unsupported(url.split(':').next().unwrap_or_default().to_string()))
        }
    }

    /// Delivers `sms`; `id` names the file so a redelivery overwrites instead of duplicating.
    pub async fn send(&self, id: &str, sms: &Sms) -> Result<(), SmsError> {
        match self {
            SmsSender::File(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let name = format!("{}-{id}.txt", chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"));
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, format!("To: {}\n\n{}\n", sms.to, sms.body)).await?;
                tokio::fs::rename(&tmp, dir.join(name)).await?;
            }
            SmsSender::Log => tracing::info!(to = %sms.to, "sms sent (log transport)"),
        }
        Ok(())
    }
}
