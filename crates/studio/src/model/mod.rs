//! The studio's data as stored (rows) and as the API shows it.

mod catalogue;
mod characters;
mod generations;
mod profile;

pub use catalogue::{Category, Template, TemplateRow, TemplateSort};
pub use characters::{Character, CharacterImage, CharacterRow, StoredImage};
pub use generations::{Generation, GenerationKind, GenerationRow, GenerationStatus, ResultImage};
pub use profile::{ProfileRow, StudioProfile, Tier};
