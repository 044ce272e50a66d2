//! HTTP routes under `/api/v1/studio`: parse, call [`Studio`], answer.

mod catalogue;
mod characters;
mod favorites;
mod generations;
mod profile;

use crate::service::Studio;
use axum::extract::{DefaultBodyLimit, FromRef};
use platform::auth::Authenticator;
use platform::upload::Uploads;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// State of the studio routes.
#[derive(Clone)]
pub struct StudioState {
    /// The service.
    pub studio: Studio,
    /// Checks tokens.
    pub auth: Authenticator,
    /// Upload limits (the extractor reads them).
    pub uploads: Uploads,
}

impl FromRef<StudioState> for Authenticator {
    fn from_ref(s: &StudioState) -> Self {
        s.auth.clone()
    }
}

impl FromRef<StudioState> for Uploads {
    fn from_ref(s: &StudioState) -> Self {
        s.uploads.clone()
    }
}

/// An administrator: extracted from the request's head, so that anyone else is answered 403
/// `admin_only` before their body is read (or an upload staged).
pub struct Admin(pub platform::auth::AuthUser);

impl<S> axum::extract::FromRequestParts<S> for Admin
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = platform::ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = platform::auth::AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(crate::StudioError::AdminOnly.into());
        }
        Ok(Self(user))
    }
}

/// The studio routes; the upload routes take bodies up to their files' limits.
pub fn router(studio: Studio, auth: Authenticator, uploads: &Uploads) -> OpenApiRouter {
    let characters_upload = OpenApiRouter::new()
        .routes(routes!(characters::list_characters, characters::create_character))
        .layer(DefaultBodyLimit::max(uploads.body_limit::<characters::CharacterRules>()));
    let template_image = OpenApiRouter::new()
        .routes(routes!(catalogue::get_template_image, catalogue::put_template_image))
        .layer(DefaultBodyLimit::max(uploads.body_limit::<catalogue::TemplateImageRules>()));
    OpenApiRouter::new()
        .merge(characters_upload)
        .merge(template_image)
        .routes(routes!(characters::get_character, characters::update_character, characters::delete_character))
        .routes(routes!(catalogue::list_categories, catalogue::create_category))
        .routes(routes!(catalogue::update_category, catalogue::delete_category))
        .routes(routes!(catalogue::list_templates, catalogue::create_template))
        .routes(routes!(catalogue::get_template, catalogue::update_template, catalogue::delete_template))
        .routes(routes!(favorites::add_favorite, favorites::remove_favorite))
        .routes(routes!(favorites::toggle_favorite))
        .routes(routes!(favorites::list_favorites))
        .routes(routes!(generations::list_generations, generations::create_generation))
        .routes(routes!(generations::get_generation))
        .routes(routes!(profile::get_profile))
        .routes(routes!(profile::change_plan))
        .with_state(StudioState { studio, auth, uploads: uploads.clone() })
}
