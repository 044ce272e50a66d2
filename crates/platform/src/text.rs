//! Text rules shared by modules: `@Name` mentions in chat messages and task comments.

use uuid::Uuid;

/// Users named in `content` as `@Name`, among `candidates` (id, display name); case-insensitive,
/// and the name must end at a non-alphanumeric character, so `@ann` does not match "Anna" and
/// an email address does not mention anyone. Sorted, without duplicates.
pub fn mentioned(content: &str, candidates: &[(Uuid, String)]) -> Vec<Uuid> {
    if !content.contains('@') {
        return Vec::new();
    }
    let text = content.to_lowercase();
    let mut found: Vec<Uuid> = candidates
        .iter()
        .filter(|(_, name)| {
            let needle = format!("@{}", name.to_lowercase());
            text.match_indices(&needle)
                .any(|(i, _)| text[i + needle.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_'))
        })
        .map(|(id, _)| *id)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// [`mentioned`] among the `named` users (id, name) that are in `members`: the last step of
/// resolving mentions by name (see [`mention_candidates`]).
pub fn mentioned_members(content: &str, named: Vec<(Uuid, String)>, members: &[Uuid]) -> Vec<Uuid> {
    let candidates: Vec<(Uuid, String)> = named.into_iter().filter(|(id, _)| members.contains(id)).collect();
    mentioned(content, &candidates)
}

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// `@`s of one text that are looked at: the rest mention no one.
pub const MAX_MENTIONS: usize = 20;

/// The names that the `@`s of `content` could stand for, as typed and lower-cased (a lookup
/// compares both with the stored name and its lower-cased form, so a name with capitals
/// outside ASCII is found where the database lower-cases ASCII only): for each of the first
/// [`MAX_MENTIONS`] `@`s, the text after it cut at every point where a name may end (before a
/// character that is not a letter, digit or `_`), up to [`MAX_NAME_CHARS`]. Looking these up
/// finds every user [`mentioned`] would match without reading every member of a big room.
pub fn mention_candidates(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in content.match_indices('@').take(MAX_MENTIONS) {
        let rest: Vec<char> = content[at + 1..].chars().take(MAX_NAME_CHARS + 1).collect();
        for end in 1..=rest.len().min(MAX_NAME_CHARS) {
            let boundary = rest.get(end).is_none_or(|c| !c.is_alphanumeric() && *c != '_');
            let last = rest[end - 1];
            if boundary && !last.is_whitespace() {
                let typed: String = rest[..end].iter().collect();
                out.push(typed.to_lowercase());
                out.push(typed);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Invisible characters that change how text around them reads without showing themselves:
/// zero-width characters, the bidirectional overrides and isolates (which can make `txt.exe`
/// read as `exe.txt`), the line and paragraph separators, and the byte-order mark. Refused in
/// names and other text that others read or that is printed.
pub fn is_hidden_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Lower case without accents, for accent- and case-insensitive search (`"Café Zürich"` →
/// `"cafe zurich"`): compatibility decomposition, combining marks dropped.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// `%text%` for a `LIKE … ESCAPE '\'` that finds `text` anywhere, its own `%`, `_` and `\`
/// taken literally. Callers fold the case (or accents) of both sides first.
pub fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Neutralises spreadsheet formulas in a CSV cell: text starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return gets a leading `'`, so a spreadsheet shows it instead of running it.
pub fn csv_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

/// Trims `value`; blank becomes absent. `max` characters at most; line breaks and tabs only
/// where `multiline`; no other control characters, and none of the invisible characters that
/// reorder or hide text (such fields end up on documents and in other people's lists).
pub fn field_text(
    errors: &mut Vec<crate::error::FieldError>,
    field: &str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let allowed = |c: char| (!c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'))) && !is_hidden_format(c);
    if !value.chars().all(allowed) {
        let what =
            if multiline { "control characters other than line breaks" } else { "control characters or line breaks" };
        errors.push(crate::error::FieldError::new(
            field,
            format!("must not contain {what}, or invisible formatting characters"),
        ));
        return None;
    }
    if value.chars().count() > max {
        errors.push(crate::error::FieldError::new(field, format!("must be at most {max} characters")));
        return None;
    }
    Some(value.to_string())
}

/// A text that must be there: [`field_text`], and "is required" when it is blank.
pub fn required_text(errors: &mut Vec<crate::error::FieldError>, field: &str, value: &str, max: usize) -> String {
    let before = errors.len();
    match field_text(errors, field, Some(value), max, false) {
        Some(v) => v,
        None => {
            if errors.len() == before {
                errors.push(crate::error::FieldError::new(field, format!("is required (1 to {max} characters)")));
            }
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_format_characters() {
        for c in ['\u{200B}', '\u{200E}', '\u{2028}', '\u{2029}', '\u{202E}', '\u{2066}', '\u{FEFF}'] {
            assert!(is_hidden_format(c), "{:X}", c as u32);
        }
        for c in ['a', 'é', ' ', '\n', 'ت', '\u{00AD}', '€'] {
            assert!(!is_hidden_format(c), "{:X}", c as u32);
        }
    }

    #[test]
    fn folding_drops_case_and_accents() {
        assert_eq!(fold("Café ZÜRICH"), "cafe zurich");
        assert_eq!(fold("Ångström Hall"), "angstrom hall");
        assert_eq!(fold("ＦＵＬＬ width"), "full width");
        assert_eq!(fold("Tehran تهران"), "tehran تهران");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn mentions_match_whole_names() {
        let (ann, anna, bob) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let members = vec![(ann, "Ann".to_string()), (anna, "Anna".to_string()), (bob, "Bob Stone".to_string())];
        assert_eq!(mentioned("hi @ann!", &members), vec![ann]);
        assert_eq!(mentioned("@Anna and @bob stone", &members), {
            let mut v = vec![anna, bob];
            v.sort();
            v
        });
        assert!(mentioned("email ann@example.com", &members).is_empty());
        assert!(mentioned("no mentions", &members).is_empty());
    }

    #[test]
    fn candidates_cover_every_name_a_mention_could_match() {
        let content = "hi @Bob Stone, and @ann! mail ann@x.io";
        let candidates = mention_candidates(content);
        for name in ["bob", "bob stone", "ann", "x", "x.io"] {
            assert!(candidates.contains(&name.to_string()), "{name} in {candidates:?}");
        }
        assert!(!candidates.contains(&"bo".to_string()), "names end at word boundaries");
        // Whatever `mentioned` matches is among the candidates.
        let (bob, ann) = (Uuid::now_v7(), Uuid::now_v7());
        let members = vec![(bob, "Bob Stone".to_string()), (ann, "Ann".to_string())];
        for id in mentioned(content, &members) {
            let name = &members.iter().find(|(m, _)| *m == id).unwrap().1;
            assert!(candidates.contains(&name.to_lowercase()));
        }
        let many = "@a ".repeat(100);
        assert!(mention_candidates(&many).len() <= 2 * MAX_MENTIONS * MAX_NAME_CHARS);
        assert!(mention_candidates("@Émile").contains(&"Émile".to_string()));
    }

    #[test]
    fn csv_cells_cannot_be_formulas() {
        for formula in ["=SUM(A1)", "+1", "-2", "@x", "\tx", "\rx"] {
            assert_eq!(csv_cell(formula), format!("'{formula}"));
        }
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell(""), "");
    }
}
