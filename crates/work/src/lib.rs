//! Work: projects, members and roles, tasks with filters, board positions and blockers,
//! comments with @mentions, the activity feed, analytics, CSV export, due-date reminders, and
//! live updates on the `work.project.{id}` topic and over socket.io (`/socket.io/`).
//!
//! # Permissions
//!
//! Roles, weakest first: `guest` < `member` < `manager` < `owner`. Non-members see nothing of a
//! `private` or `team` project (404 on every route); any signed-in user reads a `public` project
//! as a guest would. Platform admins act as the owner of every project.
//!
//! | action                                              | guest | member | manager | owner |
//! |-----------------------------------------------------|:-----:|:------:|:-------:|:-----:|
//! | read project, members, tasks, comments, activity, analytics, CSV; join its live room | ✓ | ✓ | ✓ | ✓ |
//! | create tasks, comment                               |       |   ✓    |    ✓    |   ✓   |
//! | edit tasks they created or are assigned to          |       |   ✓    |    ✓    |   ✓   |
//! | edit any task                                       |       |        |    ✓    |   ✓   |
//! | delete tasks they created                           |       |   ✓    |    ✓    |   ✓   |
//! | delete any task, delete any comment                 |       |        |    ✓    |   ✓   |
//! | edit / delete their own comments                    |  ✓¹   |   ✓    |    ✓    |   ✓   |
//! | edit the project                                    |       |        |    ✓    |   ✓   |
//! | add members and guests (`team` projects)            |       |   ✓    |    ✓    |   ✓   |
//! | add members and guests, change their roles, remove them |   |        |    ✓    |   ✓   |
//! | appoint, demote or remove managers; transfer ownership |    |        |         |   ✓   |
//! | delete the project                                  |       |        |         |   ✓   |
//! | leave the project                                   |   ✓   |   ✓    |    ✓    |       |
//!
//! ¹ Comments written before the author became a guest. Assignees must be members (not guests);
//! a member who leaves, is removed or becomes a guest is unassigned from the project's tasks.
//! Adding an email address that no verified account has sends an invitation; the address
//! becomes a member when its owner signs up and verifies it.

pub mod error;
pub mod events;
pub mod jobs;
pub mod model;
mod module;
pub mod routes;
pub mod service;
pub mod socketio;
mod store;

pub use error::WorkError;
pub use model::{Project, Task};
pub use module::{WorkModule, WorkSettings};
pub use routes::router;
pub use service::Work;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] =
    platform::migrations!("work", 1 => "0001_work.sql", 2 => "0002_keep_departed_authors.sql");
