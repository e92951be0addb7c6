//! The simple repository API: PEP 503 HTML and PEP 691 JSON, chosen from the `Accept` header, with
//! PEP 658/714 core metadata declared for the files that have it.

use serde_json::{Value, json};

/// PEP 691's JSON type.
pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
/// PEP 691's HTML type.
pub const HTML_TYPE: &str = "application/vnd.pypi.simple.v1+html";

/// Which serialisation to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// HTML, under this content type.
    Html(&'static str),
    /// JSON.
    Json,
}

impl Flavor {
    /// The response's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Flavor::Html("text/html") => "text/html; charset=utf-8",
            Flavor::Html(media) => media,
            Flavor::Json => JSON_TYPE,
        }
    }
}

/// The serialisations offered, in the order that breaks ties: HTML first, for clients that accept
/// anything.
const OFFERED: [(&str, Flavor); 5] = [
    ("text/html", Flavor::Html("text/html")),
    (HTML_TYPE, Flavor::Html(HTML_TYPE)),
    (
        "application/vnd.pypi.simple.latest+html",
        Flavor::Html(HTML_TYPE),
    ),
    (JSON_TYPE, Flavor::Json),
    ("application/vnd.pypi.simple.latest+json", Flavor::Json),
];

/// Chooses a serialisation: the offered type with the highest quality, the most specific matching range
/// deciding each type's quality. No header means HTML; `None` means nothing offered is acceptable (406).
pub fn negotiate(accept: Option<&str>) -> Option<Flavor> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Flavor::Html("text/html"));
    };
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty()).then_some((media, quality))
        })
        .collect();
    let quality_of = |offered: &str| -> f32 {
        let main = offered.split('/').next().unwrap_or_default();
        let specificity = |range: &str| -> Option<u8> {
            if range == offered {
                Some(3)
            } else if range.strip_suffix("/*") == Some(main) {
                Some(2)
            } else if range == "*/*" {
                Some(1)
            } else {
                None
            }
        };
        ranges
            .iter()
            .filter_map(|(range, q)| specificity(range).map(|s| (s, *q)))
            .max_by_key(|(s, _)| *s)
            .map_or(0.0, |(_, q)| q)
    };
    let mut best: Option<(f32, Flavor)> = None;
    for (media, flavor) in OFFERED {
        let quality = quality_of(media);
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, flavor));
        }
    }
    best.map(|(_, flavor)| flavor)
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Percent-encodes a URL path segment (everything but unreserved characters, `+` and `!`).
pub fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'!') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// One file on a project page.
#[derive(Debug, Clone)]
pub struct IndexFile {
    /// File name.
    pub filename: String,
    /// URL relative to the project page.
    pub url: String,
    /// sha256 hex; empty when an upstream's index declared none.
    pub sha256: String,
    /// `Requires-Python`, if any.
    pub requires_python: Option<String>,
    /// Size in bytes, when known (an upstream's HTML page does not say).
    pub size: Option<i64>,
    /// Upload time, `yyyy-mm-ddThh:mm:ss.ffffffZ`, when known.
    pub upload_time: Option<String>,
    /// sha256 hex of the core metadata served at `url` + `.metadata` (PEP 658), when there is one.
    pub core_metadata_sha256: Option<String>,
    /// Yanked (PEP 592), with its reason, possibly empty.
    pub yanked: Option<String>,
}

impl IndexFile {
    /// The file's URL with its `#sha256=` fragment, when its digest is known.
    fn url_with_hash(&self) -> String {
        if self.sha256.is_empty() {
            self.url.clone()
        } else {
            format!("{}#sha256={}", self.url, self.sha256)
        }
    }
}

/// The project list: `(name as published, normalised name)` pairs.
pub fn render_project_list(flavor: Flavor, projects: &[(String, String)]) -> String {
    match flavor {
        Flavor::Json => json!({
            "meta": {"api-version": "1.1"},
            "projects": projects.iter().map(|(name, _)| json!({"name": name})).collect::<Vec<_>>(),
        })
        .to_string(),
        Flavor::Html(_) => {
            let mut html = String::from(
                "<!DOCTYPE html>\n<html>\n  <head>\n    \
                 <meta name=\"pypi:repository-version\" content=\"1.1\">\n    \
                 <title>Simple index</title>\n  </head>\n  <body>\n",
            );
            for (name, normalized) in projects {
                html.push_str(&format!(
                    "    <a href=\"{}/\">{}</a><br/>\n",
                    encode_segment(normalized),
                    escape_html(name)
                ));
            }
            html.push_str("  </body>\n</html>\n");
            html
        }
    }
}

/// A project page: every file of every version.
pub fn render_project_page(
    flavor: Flavor,
    normalized: &str,
    versions: &[String],
    files: &[IndexFile],
) -> String {
    match flavor {
        Flavor::Json => {
            // Version 1.1 promises every file's size; an upstream's HTML page gives none.
            let api_version = if files.iter().all(|f| f.size.is_some()) {
                "1.1"
            } else {
                "1.0"
            };
            let files: Vec<Value> = files
                .iter()
                .map(|file| {
                    let hashes = if file.sha256.is_empty() {
                        json!({})
                    } else {
                        json!({"sha256": file.sha256})
                    };
                    let mut entry = json!({
                        "filename": file.filename,
                        "url": file.url_with_hash(),
                        "hashes": hashes,
                        "yanked": match &file.yanked {
                            None => json!(false),
                            Some(reason) if reason.is_empty() => json!(true),
                            Some(reason) => json!(reason),
                        },
                    });
                    if let Some(size) = file.size {
                        entry["size"] = json!(size);
                    }
                    if let Some(time) = &file.upload_time {
                        entry["upload-time"] = json!(time);
                    }
                    if let Some(requires) = &file.requires_python {
                        entry["requires-python"] = json!(requires);
                    }
                    if let Some(sha256) = &file.core_metadata_sha256 {
                        // PEP 714's key, and PEP 658's for the clients that predate it.
                        entry["core-metadata"] = json!({"sha256": sha256});
                        entry["data-dist-info-metadata"] = json!({"sha256": sha256});
                    }
                    entry
                })
                .collect();
            json!({
                "meta": {"api-version": api_version},
                "name": normalized,
                "versions": versions,
                "files": files,
            })
            .to_string()
        }
        Flavor::Html(_) => {
            let title = format!("Links for {}", escape_html(normalized));
            let mut html = format!(
                "<!DOCTYPE html>\n<html>\n  <head>\n    \
                 <meta name=\"pypi:repository-version\" content=\"1.1\">\n    \
                 <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
            );
            for file in files {
                let requires = file
                    .requires_python
                    .as_deref()
                    .map(|r| format!(" data-requires-python=\"{}\"", escape_html(r)))
                    .unwrap_or_default();
                let metadata = file
                    .core_metadata_sha256
                    .as_deref()
                    .map(|sha256| {
                        format!(
                            " data-core-metadata=\"sha256={sha256}\" \
                             data-dist-info-metadata=\"sha256={sha256}\""
                        )
                    })
                    .unwrap_or_default();
                let yanked = file
                    .yanked
                    .as_deref()
                    .map(|reason| format!(" data-yanked=\"{}\"", escape_html(reason)))
                    .unwrap_or_default();
                html.push_str(&format!(
                    "    <a href=\"{}\"{requires}{metadata}{yanked}>{}</a><br/>\n",
                    escape_html(&file.url_with_hash()),
                    escape_html(&file.filename)
                ));
            }
            html.push_str("  </body>\n</html>\n");
            html
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_as_pip_and_browsers_ask() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip)), Some(Flavor::Json));
        assert_eq!(negotiate(None), Some(Flavor::Html("text/html")));
        assert_eq!(negotiate(Some("*/*")), Some(Flavor::Html("text/html")));
        assert_eq!(
            negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Some(Flavor::Html("text/html"))
        );
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+html")),
            Some(Flavor::Html(HTML_TYPE))
        );
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.latest+json")),
            Some(Flavor::Json)
        );
        assert_eq!(negotiate(Some("application/xml")), None);
        assert_eq!(negotiate(Some("text/*;q=0.5, text/html;q=0")), None);
    }

    #[test]
    fn project_pages_carry_hashes_and_escaped_requires_python() {
        let file = IndexFile {
            filename: "demo-1.0.tar.gz".into(),
            url: "../../files/demo/1.0/demo-1.0.tar.gz".into(),
            sha256: "ab".repeat(32),
            requires_python: Some(">=3.8,<4".into()),
            size: Some(10),
            upload_time: Some("2026-01-01T00:00:00.000000Z".into()),
            core_metadata_sha256: None,
            yanked: None,
        };
        let wheel = IndexFile {
            filename: "demo-1.0-py3-none-any.whl".into(),
            url: "../../files/demo/1.0/demo-1.0-py3-none-any.whl".into(),
            core_metadata_sha256: Some("cd".repeat(32)),
            ..file.clone()
        };
        let html = render_project_page(
            Flavor::Html("text/html"),
            "demo",
            &["1.0".into()],
            &[file.clone(), wheel.clone()],
        );
        assert!(html.contains(&format!(
            "<a href=\"../../files/demo/1.0/demo-1.0.tar.gz#sha256={}\" data-requires-python=\"&gt;=3.8,&lt;4\">demo-1.0.tar.gz</a>",
            "ab".repeat(32)
        )), "{html}");
        assert!(
            html.contains(&format!(
                "<a href=\"../../files/demo/1.0/demo-1.0-py3-none-any.whl#sha256={}\" \
             data-requires-python=\"&gt;=3.8,&lt;4\" data-core-metadata=\"sha256={cd}\" \
             data-dist-info-metadata=\"sha256={cd}\">demo-1.0-py3-none-any.whl</a>",
                "ab".repeat(32),
                cd = "cd".repeat(32)
            )),
            "{html}"
        );
        let json: Value = serde_json::from_str(&render_project_page(
            Flavor::Json,
            "demo",
            &["1.0".into()],
            &[file, wheel],
        ))
        .unwrap();
        assert_eq!(json["files"][0].get("core-metadata"), None);
        assert_eq!(json["files"][0].get("data-dist-info-metadata"), None);
        assert_eq!(
            json["files"][1]["core-metadata"],
            json!({"sha256": "cd".repeat(32)})
        );
        assert_eq!(
            json["files"][1]["data-dist-info-metadata"],
            json!({"sha256": "cd".repeat(32)})
        );
        assert_eq!(json["files"][0]["requires-python"], ">=3.8,<4");
        assert_eq!(json["files"][0]["hashes"]["sha256"], "ab".repeat(32));
        assert_eq!(json["versions"], json!(["1.0"]));
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("a b/c+1!"), "a%20b%2Fc+1!");
    }
}
