//! Image providers: what a generation asks for and how it is asked. The one implementation is
//! any service that speaks OpenAI's images API (`POST /v1/images/generations` and, with
//! source images, `POST /v1/images/edits`), answering base64 images.

use base64::Engine;
use std::time::Duration;

/// What a generation asks a provider for.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// The full prompt (the template's, its style, then the user's words).
    pub prompt: String,
    /// Source images for an edit (PNG, JPEG or WebP bytes); empty for a generation.
    pub sources: Vec<SourceImage>,
}

/// One source image of an edit.
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub bytes: bytes::Bytes,
    /// Its MIME type.
    pub mime: &'static str,
    /// A file name with the right extension (some services look at it).
    pub file_name: String,
}

/// Why a provider gave no image.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The service could not be reached or did not answer in time.
    #[error("the image provider could not be reached: {0}")]
    Unreachable(String),
    /// The service refused or failed (its status and a short part of its explanation).
    #[error("the image provider answered {0}: {1}")]
    Refused(u16, String),
    /// The answer held no usable image.
    #[error("the image provider's answer holds no image: {0}")]
    BadAnswer(String),
}

/// Makes images.
#[async_trait::async_trait]
pub trait ImageProvider: Send + Sync {
    /// One image for `request`, as encoded bytes.
    async fn create(&self, request: &ImageRequest) -> Result<Vec<u8>, ProviderError>;
    /// What to record about the provider in a generation's metadata.
    fn describe(&self) -> serde_json::Value;
}

/// Largest answer read from a provider: a 1536×1024 PNG is a few megabytes, a third more in
/// base64.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The part of an images answer we read (the base64 image borrowed from the body, not copied).
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    data: Vec<AnswerImage<'a>>,
}

#[derive(serde::Deserialize)]
struct AnswerImage<'a> {
    #[serde(borrow)]
    b64_json: Option<std::borrow::Cow<'a, str>>,
}

/// The part of an error answer we read.
#[derive(serde::Deserialize)]
struct Refusal {
    error: Option<RefusalDetail>,
}

#[derive(serde::Deserialize)]
struct RefusalDetail {
    message: Option<String>,
}

/// An OpenAI-compatible images API.
pub struct OpenAiImages {
    client: http_client::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
    size: String,
}

impl OpenAiImages {
    /// OpenAI's `gpt-image-*` models always answer base64 and refuse `response_format`; the
    /// DALL·E models and most compatible services answer a URL unless asked for base64.
    fn asks_for_base64(&self) -> bool {
        !self.model.starts_with("gpt-image")
    }

    /// A provider at `base_url` (without `/v1`), authenticated with `api_key` if given.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: String,
        size: String,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            anyhow::bail!("the studio provider URL must start with http:// or https://");
        }
        let client = http_client::Client::builder().timeout(timeout).build()?;
        let base_url = base_url.trim_end_matches('/').trim_end_matches("/v1").to_string();
        Ok(Self { client, base_url, api_key, model, size })
    }

    async fn answer(&self, request: http_client::RequestBuilder) -> Result<Vec<u8>, ProviderError> {
        let request = match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        let mut response = request.send().await.map_err(|e| ProviderError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| ProviderError::Unreachable(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(ProviderError::BadAnswer("the answer is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<Refusal>(&body)
                .ok()
                .and_then(|r| r.error)
                .and_then(|e| e.message)
                .unwrap_or_default();
            return Err(ProviderError::Refused(status.as_u16(), message.chars().take(200).collect()));
        }
        let answer: Answer<'_> = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::BadAnswer(format!("not an images answer: {e}")))?;
        let b64 = answer
            .data
            .into_iter()
            .next()
            .and_then(|image| image.b64_json)
            .ok_or_else(|| ProviderError::BadAnswer("no data[0].b64_json".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| ProviderError::BadAnswer(format!("b64_json: {e}")))
    }
}

#[async_trait::async_trait]
impl ImageProvider for OpenAiImages {
    async fn create(&self, request: &ImageRequest) -> Result<Vec<u8>, ProviderError> {
        if request.sources.is_empty() {
            let mut body = serde_json::json!({
                "model": self.model,
                "prompt": request.prompt,
                "n": 1,
                "size": self.size,
            });
            if self.asks_for_base64() {
                body["response_format"] = "b64_json".into();
            }
            let url = format!("{}/v1/images/generations", self.base_url);
            return self.answer(self.client.post(url).json(&body)).await;
        }
        let mut form = http_client::multipart::Form::new()
            .text("model", self.model.clone())
            .text("prompt", request.prompt.clone())
            .text("n", "1")
            .text("size", self.size.clone());
        if self.asks_for_base64() {
            form = form.text("response_format", "b64_json");
        }
        // One source goes as `image`; several as `image[]`, as the API takes them.
        let field = if request.sources.len() == 1 { "image" } else { "image[]" };
        for source in &request.sources {
            let part = http_client::multipart::Part::bytes(source.bytes.to_vec())
                .file_name(source.file_name.clone())
                .mime_str(source.mime)
                .map_err(|e| ProviderError::BadAnswer(e.to_string()))?;
            form = form.part(field, part);
        }
        let url = format!("{}/v1/images/edits", self.base_url);
        self.answer(self.client.post(url).multipart(form)).await
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({"model": self.model, "size": self.size})
    }
}
