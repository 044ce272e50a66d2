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

#[cfg(test)]
mod tests {
    use super::*;

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
}
