//! The Composer 2 repository documents: `packages.json` and `p2/<vendor>/<name>.json`.

use serde_json::{Map, Value, json};

use crate::manifest::normalize_version;

/// The root document: no inline packages, where each package's metadata is, and which packages
/// exist (so Composer asks for no others).
pub fn render_packages_json(base_path: &str, names: &[String]) -> Value {
    json!({
        "packages": {},
        "metadata-url": format!("{base_path}/p2/%package%.json"),
        "available-packages": names,
    })
}

/// One version of a package as a repository lists it.
#[derive(Debug, Clone)]
pub struct DistVersion {
    /// The version as published.
    pub version: String,
    /// The package metadata (`composer.json` without root-only keys).
    pub metadata: Value,
    /// Absolute URL of the dist zip.
    pub url: String,
    /// sha1 hex of the zip.
    pub shasum: String,
    /// When it was published, ISO 8601.
    pub time: String,
}

/// `p2/<vendor>/<name>.json`: `{"packages": {name: [version…]}}`, newest first, in Composer's
/// expanded (not minified) form.
pub fn render_package_document(name: &str, versions: &[DistVersion]) -> Value {
    let listed: Vec<Value> = versions
        .iter()
        .rev()
        .map(|v| {
            let mut entry = match &v.metadata {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            entry.insert("name".into(), json!(name));
            entry.insert("version".into(), json!(v.version));
            entry.insert(
                "version_normalized".into(),
                json!(normalize_version(&v.version).unwrap_or_else(|| v.version.clone())),
            );
            entry.insert(
                "dist".into(),
                json!({"type": "zip", "url": v.url, "reference": v.shasum, "shasum": v.shasum}),
            );
            entry.insert("time".into(), json!(v.time));
            Value::Object(entry)
        })
        .collect();
    json!({ "packages": { name: listed } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_json_points_at_the_p2_documents() {
        let doc = render_packages_json("/company/acme/package/-/composer", &["acme/demo".into()]);
        assert_eq!(
            doc,
            json!({
                "packages": {},
                "metadata-url": "/company/acme/package/-/composer/p2/%package%.json",
                "available-packages": ["acme/demo"],
            })
        );
    }

    #[test]
    fn package_documents_list_versions_newest_first_with_their_dist() {
        let version = |v: &str| DistVersion {
            version: v.into(),
            metadata: json!({"name": "acme/demo", "type": "library", "autoload": {"psr-4": {"Acme\\": "src/"}}}),
            url: format!("http://h/files/acme/demo/{v}/demo-{v}.zip"),
            shasum: "ab".repeat(20),
            time: "2026-01-02T03:04:05+00:00".into(),
        };
        let doc = render_package_document("acme/demo", &[version("1.0.0"), version("1.1.0-beta1")]);
        let listed = doc["packages"]["acme/demo"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["version"], "1.1.0-beta1");
        assert_eq!(listed[0]["version_normalized"], "1.1.0.0-beta1");
        assert_eq!(listed[1]["version_normalized"], "1.0.0.0");
        assert_eq!(listed[1]["type"], "library");
        assert_eq!(listed[1]["autoload"]["psr-4"]["Acme\\"], "src/");
        assert_eq!(
            listed[1]["dist"],
            json!({"type": "zip", "url": "http://h/files/acme/demo/1.0.0/demo-1.0.0.zip",
                   "reference": "ab".repeat(20), "shasum": "ab".repeat(20)})
        );
        assert_eq!(listed[1]["time"], "2026-01-02T03:04:05+00:00");
    }
}
