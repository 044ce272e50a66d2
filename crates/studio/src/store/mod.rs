//! The studio's SQL, one file per table family. Every statement on a user's objects names the
//! owner: another user's row is not found, the same as a row that does not exist.

pub mod catalogue;
pub mod characters;
pub mod favorites;
pub mod generations;
pub mod profiles;
