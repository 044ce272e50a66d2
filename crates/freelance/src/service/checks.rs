//! The checks every freelance text field goes through, written once: documents print what
//! people type here, so no control characters and none of the invisible ones that reorder or
//! hide text.

use platform::FieldError;

/// Trims `value`; blank becomes absent. `max` characters at most; line breaks and tabs only
/// where `multiline`; no other control characters, and none of the invisible characters that
/// reorder or hide text (these fields end up on invoices and contracts).
pub(super) fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let allowed = |c: char| {
        (!c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'))) && !platform::text::is_hidden_format(c)
    };
    if !value.chars().all(allowed) {
        let what =
            if multiline { "control characters other than line breaks" } else { "control characters or line breaks" };
        errors.push(FieldError::new(field, format!("must not contain {what}, or invisible formatting characters")));
        return None;
    }
    if value.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
        return None;
    }
    Some(value.to_string())
}

/// A text that must be there: [`text`], and "is required" when it is blank.
pub(super) fn required(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let before = errors.len();
    match text(errors, field, Some(value), max, false) {
        Some(v) => v,
        None => {
            if errors.len() == before {
                errors.push(FieldError::new(field, format!("is required (1 to {max} characters)")));
            }
            String::new()
        }
    }
}
