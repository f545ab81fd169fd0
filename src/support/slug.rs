//! Names → slugs that are safe as directory names and compose project names.

/// Longest slug accepted: keeps `ktrdr--<slug>` and docker's derived names
/// (`<project>-<service>-1`, `<project>_postgres_data`) well inside limits.
pub const MAX_SLUG: usize = 63;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SlugError {
    #[error("the name {0:?} has no letters or digits to make a name from")]
    Empty(String),
    #[error("the name is {len} characters long once made safe; the limit is {MAX_SLUG}")]
    TooLong { len: usize },
}

/// Lowercase; every run of characters outside `[a-z0-9-]` becomes one `-`; leading
/// and trailing `-` trimmed.
pub fn slugify(name: &str) -> Result<String, SlugError> {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    let slug = out.trim_matches('-').to_string();
    if slug.is_empty() {
        return Err(SlugError::Empty(name.to_string()));
    }
    if slug.len() > MAX_SLUG {
        return Err(SlugError::TooLong { len: slug.len() });
    }
    Ok(slug)
}

/// A compose project name: starts with a letter or digit, then `[a-z0-9_-]`.
pub fn is_valid_project_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(slugify("Feature X").unwrap(), "feature-x");
        assert_eq!(slugify("feat/login--v2").unwrap(), "feat-login--v2");
        assert_eq!(slugify("  ../../etc  ").unwrap(), "etc");
        assert_eq!(slugify("a;rm -rf $HOME").unwrap(), "a-rm--rf-home");
        assert_eq!(slugify("Crème brûlée").unwrap(), "cr-me-br-l-e");
        assert_eq!(slugify("__x__").unwrap(), "x");
    }

    #[test]
    fn rejects_empty_and_long() {
        assert!(matches!(slugify(""), Err(SlugError::Empty(_))));
        assert!(matches!(slugify("$$$ !!"), Err(SlugError::Empty(_))));
        assert!(matches!(slugify("日本語"), Err(SlugError::Empty(_))));
        assert!(matches!(
            slugify(&"a".repeat(300)),
            Err(SlugError::TooLong { len: 300 })
        ));
    }

    #[test]
    fn slugs_are_project_names() {
        for n in ["Feature X", "x", "9lives", "a--b", "ÅB_c"] {
            let s = slugify(n).unwrap();
            assert!(is_valid_project_name(&s), "{s}");
        }
        assert!(!is_valid_project_name("-x"));
        assert!(!is_valid_project_name("X"));
        assert!(!is_valid_project_name(""));
    }
}
