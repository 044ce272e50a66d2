//! Outgoing SMS: `file://DIR` writes one text file per message (the embedded default and what
//! tests read), `log:` writes a log line without the body (codes must not reach logs), and
//! `twilio://ACCOUNT_SID:AUTH_TOKEN@FROM` sends through Twilio's REST API or any service that
//! speaks it (`?base_url=` points it elsewhere). Messages reach a sender through the outbox, so
//! a provider that fails is retried with backoff and a message is parked, not lost.

use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Twilio's REST API.
    Twilio(Twilio),
}

/// Where Twilio's API is, unless the URL says otherwise.
const TWILIO_API: &str = "https://api.twilio.com";

/// How long one request to the provider may take; the outbox retries after a failure.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

/// A Twilio-compatible account.
#[derive(Debug, Clone)]
pub struct Twilio {
    client: http_client::Client,
    account_sid: String,
    auth_token: Secret,
    /// A phone number (E.164), an alphanumeric sender id, or a messaging service (`MG…`).
    from: String,
    base_url: String,
}

/// SMS configuration or delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The URL names no supported transport.
    #[error("unsupported sms url: {0}")]
    Unsupported(String),
    /// The URL names the transport but not everything it needs.
    #[error("sms url: {0}")]
    Config(String),
    /// Writing failed.
    #[error("sms delivery failed: {0}")]
    Io(#[from] std::io::Error),
    /// The provider could not be reached or refused the message.
    #[error("sms provider: {0}")]
    Provider(String),
}

impl SmsSender {
    /// The sender for `url`.
    pub fn from_url(url: &str) -> Result<Self, SmsError> {
        if let Some(dir) = url.strip_prefix("file://") {
            Ok(SmsSender::File(PathBuf::from(dir)))
        } else if url == "log:" {
            Ok(SmsSender::Log)
        } else if let Some(rest) = url.strip_prefix("twilio://") {
            Twilio::parse(rest).map(SmsSender::Twilio)
        } else {
            Err(SmsError::Unsupported(url.split(':').next().unwrap_or_default().to_string()))
        }
    }

    /// Delivers `sms`; `id` names the file so a redelivery overwrites instead of duplicating.
    pub async fn send(&self, id: &str, sms: &Sms) -> Result<(), SmsError> {
        match self {
            SmsSender::File(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let name = format!("{}.txt", crate::mail::spool_name(id));
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, format!("To: {}\n\n{}\n", sms.to, sms.body)).await?;
                tokio::fs::rename(&tmp, dir.join(name)).await?;
            }
            SmsSender::Log => tracing::info!(to = %sms.to, "sms sent (log transport)"),
            SmsSender::Twilio(twilio) => twilio.send(sms).await?,
        }
        Ok(())
    }
}

fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned()
}

impl Twilio {
    /// `ACCOUNT_SID:AUTH_TOKEN@FROM[?base_url=URL]` (parts percent-encoded where needed: a `+`
    /// may stay as it is).
    fn parse(rest: &str) -> Result<Self, SmsError> {
        let bad = |what: &str| SmsError::Config(format!("twilio://ACCOUNT_SID:AUTH_TOKEN@FROM needs {what}"));
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (credentials, from) = authority.rsplit_once('@').ok_or_else(|| bad("an @"))?;
        let (sid, token) = credentials.split_once(':').ok_or_else(|| bad("ACCOUNT_SID:AUTH_TOKEN"))?;
        let (sid, token, from) = (decode(sid), decode(token), decode(from.trim_end_matches('/')));
        if sid.is_empty() || token.is_empty() || from.is_empty() {
            return Err(bad("an account, a token and a sender"));
        }
        let mut base_url = TWILIO_API.to_string();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "base_url" if value.starts_with("http://") || value.starts_with("https://") => {
                    base_url = value.trim_end_matches('/').to_string();
                }
                other => {
                    return Err(SmsError::Config(format!("twilio:// takes only base_url=http(s)://…, not {other}")));
                }
            }
        }
        let client = http_client::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| SmsError::Config(format!("http client: {e}")))?;
        Ok(Self { client, account_sid: sid, auth_token: Secret::new(token), from, base_url })
    }

    /// One `POST …/Accounts/{sid}/Messages.json`, authenticated with the account and token.
    async fn send(&self, sms: &Sms) -> Result<(), SmsError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid);
        // A messaging service picks its own sender; anything else is the sender itself.
        let service = self.from.len() == 34
            && self.from.starts_with("MG")
            && self.from[2..].bytes().all(|b| b.is_ascii_hexdigit());
        let sender = if service { "MessagingServiceSid" } else { "From" };
        let form = [("To", sms.to.as_str()), (sender, self.from.as_str()), ("Body", sms.body.as_str())];
        let response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| SmsError::Provider(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Twilio explains a refusal in `message` (and `code`); read a bounded part of it.
        let mut body = Vec::new();
        let mut response = response;
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > 16 * 1024 {
                break;
            }
        }
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_default();
        Err(SmsError::Provider(format!("{status}: {}", detail.chars().take(200).collect::<String>())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_urls_are_parsed_and_checked() {
        let SmsSender::Twilio(t) = SmsSender::from_url("twilio://AC123:s%3Acret@+15550001111").unwrap() else {
            panic!("not twilio")
        };
        assert_eq!(
            (t.account_sid.as_str(), t.auth_token.expose(), t.from.as_str()),
            ("AC123", "s:cret", "+15550001111")
        );
        assert_eq!(t.base_url, TWILIO_API);
        let SmsSender::Twilio(t) =
            SmsSender::from_url("twilio://AC1:tok@MG42?base_url=http%3A%2F%2F127.0.0.1%3A9%2F").unwrap()
        else {
            panic!("not twilio")
        };
        assert_eq!(t.base_url, "http://127.0.0.1:9");
        for bad in [
            "twilio://AC1@+1555",
            "twilio://AC1:tok",
            "twilio://:tok@+1555",
            "twilio://a:b@+1?x=1",
            "twilio://a:b@+1?base_url=ftp://x",
        ] {
            assert!(SmsSender::from_url(bad).is_err(), "{bad}");
        }
    }
}
