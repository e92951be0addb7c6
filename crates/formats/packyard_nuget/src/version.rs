//! NuGet ids and versions.

/// Whether `id` is a valid package id: ASCII letters, digits, `.`, `_` and `-`, at most 100 characters,
/// starting with a letter, digit or `_`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !id.ends_with('.')
        && !id.contains("..")
}

/// The normalized form of a NuGet version (SemVer 2): leading zeros stripped, a fourth part of 0
/// dropped, padded to three parts, build metadata dropped, lowercased. `None` when it is not a version.
pub fn normalize_version(version: &str) -> Option<String> {
    let version = version.trim();
    let without_build = version
        .split_once('+')
        .map_or(version, |(v, build)| if build.is_empty() { "" } else { v });
    let (release, prerelease) = match without_build.split_once('-') {
        Some((release, pre)) => (release, Some(pre)),
        None => (without_build, None),
    };
    let parts: Vec<&str> = release.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(4);
    for part in &parts {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers.push(part.parse::<u64>().ok()?);
    }
    while numbers.len() < 3 {
        numbers.push(0);
    }
    if numbers.len() == 4 && numbers[3] == 0 {
        numbers.pop();
    }
    let mut normalized = numbers
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    if let Some(pre) = prerelease {
        let valid = !pre.is_empty()
            && pre.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return None;
        }
        normalized.push('-');
        normalized.push_str(pre);
    }
    Some(normalized.to_ascii_lowercase())
}

/// Orders normalized versions: release parts numerically, a prerelease before its release.
pub(crate) fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(v: &str) -> (Vec<u64>, Option<&str>) {
        let (release, pre) = match v.split_once('-') {
            Some((r, p)) => (r, Some(p)),
            None => (v, None),
        };
        let mut numbers: Vec<u64> = release.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        numbers.resize(4, 0);
        (numbers, pre)
    }
    let (ra, pa) = split(a);
    let (rb, pb) = split(b);
    ra.cmp(&rb).then_with(|| match (pa, pb) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split('.').collect(), y.split('.').collect());
            for (l, r) in xs.iter().zip(&ys) {
                let ord = match (l.parse::<u64>(), r.parse::<u64>()) {
                    (Ok(l), Ok(r)) => l.cmp(&r),
                    (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                    (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                    (Err(_), Err(_)) => l.cmp(r),
                };
                if ord.is_ne() {
                    return ord;
                }
            }
            xs.len().cmp(&ys.len())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_versions() {
        assert_eq!(normalize_version("1.0").as_deref(), Some("1.0.0"));
        assert_eq!(normalize_version("01.02.03").as_deref(), Some("1.2.3"));
        assert_eq!(normalize_version("1.2.3.0").as_deref(), Some("1.2.3"));
        assert_eq!(normalize_version("1.2.3.4").as_deref(), Some("1.2.3.4"));
        assert_eq!(
            normalize_version("1.0.0-Beta.1+build.5").as_deref(),
            Some("1.0.0-beta.1")
        );
        assert_eq!(normalize_version("2"), Some("2.0.0".into()));
        assert_eq!(normalize_version(""), None);
        assert_eq!(normalize_version("1.x"), None);
        assert_eq!(normalize_version("1.2.3.4.5"), None);
        assert_eq!(normalize_version("1.0-"), None);
        assert_eq!(normalize_version("../1"), None);
    }

    #[test]
    fn checks_ids() {
        assert!(is_valid_id("Packyard.Demo"));
        assert!(is_valid_id("a_b-c"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("../x"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("-a"));
    }

    #[test]
    fn orders_versions() {
        use std::cmp::Ordering::*;
        assert_eq!(compare("1.10.0", "1.9.0"), Greater);
        assert_eq!(compare("1.0.0-beta", "1.0.0"), Less);
        assert_eq!(compare("1.0.0-beta.2", "1.0.0-beta.10"), Less);
        assert_eq!(compare("1.0.0.1", "1.0.0"), Greater);
    }
}
