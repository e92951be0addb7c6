//! Validation results in GitLab's shape (`{"message": {"<attribute>": ["<msg>"]}}`) and the limits they check.

use std::collections::BTreeMap;

/// Limits of GitLab's models.
pub mod limits {
    /// Registry and upstream names.
    pub const NAME_MAX: usize = 255;
    /// Registry and upstream descriptions.
    pub const DESCRIPTION_MAX: usize = 1024;
    /// Upstream username and password.
    pub const CREDENTIAL_MAX: usize = 510;
    /// Largest cacheable file: 5 GiB.
    pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024;
    /// Largest `cache_validity_hours` (a smallint in GitLab).
    pub const VALIDITY_HOURS_MAX: i64 = 32767;
    /// Largest XML metadata document read (a `.pom`, a `.nuspec`, an `opm-metadata.xml`): 4 MiB.
    pub const METADATA_DOCUMENT_MAX: u64 = 4 * 1024 * 1024;
    /// Deepest element nesting read in an XML metadata document. Real ones nest a handful of levels;
    /// the cap keeps reading linear in the document's size.
    pub const XML_DEPTH_MAX: usize = 64;

    /// Most entries a package zip may have (the most a zip holds without zip64): the zip reader keeps a
    /// record of every entry in memory.
    pub const ZIP_ENTRIES_MAX: u64 = 65_535;
    /// Largest central directory a package zip may have: 16 MiB.
    pub const ZIP_DIRECTORY_MAX: u64 = 16 * 1024 * 1024;

    /// The error for an XML metadata document nested deeper than [`XML_DEPTH_MAX`].
    pub fn too_deep() -> String {
        format!("elements are nested deeper than {XML_DEPTH_MAX} levels")
    }
}

/// Validation messages per attribute, rendered as GitLab's model errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

/// "username can contain only …; name can't be blank", as a person reads it.
impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (attribute, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{attribute} {message}")?;
            }
        }
        Ok(())
    }
}

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error.
    pub fn single(attribute: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(attribute, message);
        errors
    }

    /// Records a message on an attribute.
    pub fn add(&mut self, attribute: &str, message: impl Into<String>) {
        self.0
            .entry(attribute.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Checks a required, length-limited text.
    pub fn check_name(&mut self, attribute: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(attribute, "can't be blank");
        } else if value.chars().count() > limits::NAME_MAX {
            self.add(attribute, "is too long (maximum is 255 characters)");
        }
    }

    /// Checks an optional description.
    pub fn check_description(&mut self, attribute: &str, value: Option<&str>) {
        if value.is_some_and(|v| v.chars().count() > limits::DESCRIPTION_MAX) {
            self.add(attribute, "is too long (maximum is 1024 characters)");
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else the errors.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}
