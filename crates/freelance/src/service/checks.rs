//! The checks every freelance text field goes through: the platform's, written once (documents
//! print what people type here).

pub(super) use platform::text::{field_text as text, required_text as required};
