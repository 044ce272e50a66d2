//! HTTP routes under `/api/v1/work`: parse, call [`Work`], answer.

mod projects;
mod tasks;

use crate::service::Work;
use axum::extract::FromRef;
use platform::ApiError;
use platform::auth::Authenticator;
use platform::pagination::PageQuery;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// State of the work routes.
#[derive(Clone)]
pub struct WorkState {
    /// The service.
    pub work: Work,
    /// Checks tokens.
    pub auth: Authenticator,
}

impl FromRef<WorkState> for Authenticator {
    fn from_ref(s: &WorkState) -> Self {
        s.auth.clone()
    }
}

/// The work routes.
pub fn router(work: Work, auth: Authenticator) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(projects::get_project, projects::update_project, projects::delete_project))
        .routes(routes!(projects::list_members, projects::add_member))
        .routes(routes!(projects::update_member, projects::remove_member))
        .routes(routes!(projects::list_invitations))
        .routes(routes!(projects::revoke_invitation))
        .routes(routes!(projects::my_invitations))
        .routes(routes!(projects::accept_invitation))
        .routes(routes!(projects::decline_invitation))
        .routes(routes!(projects::list_activity))
        .routes(routes!(projects::project_analytics))
        .routes(routes!(projects::my_analytics))
        .routes(routes!(tasks::export_tasks))
        .routes(routes!(tasks::list_tasks, tasks::create_task))
        .routes(routes!(tasks::get_task, tasks::update_task, tasks::delete_task))
        .routes(routes!(tasks::list_comments, tasks::create_comment))
        .routes(routes!(tasks::edit_comment, tasks::delete_comment))
        .with_state(WorkState { work, auth })
}

/// A checked page size and cursor id.
fn page(limit: Option<i64>, cursor: Option<String>) -> Result<(i64, Option<Uuid>), ApiError> {
    let q = PageQuery { limit, cursor };
    Ok((q.limit()?, q.cursor_id()?))
}
