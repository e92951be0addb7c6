//! Distribution file names: wheels (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`) and
//! sdists (`{name}-{version}.tar.gz`).

use packyard_domain::normalize_pypi_name;

/// The kind of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributionKind {
    /// A built wheel.
    Wheel,
    /// A source distribution.
    Sdist,
}

impl DistributionKind {
    /// The `filetype` twine sends and the JSON API's `packagetype`.
    pub fn package_type(self) -> &'static str {
        match self {
            DistributionKind::Wheel => "bdist_wheel",
            DistributionKind::Sdist => "sdist",
        }
    }
}

/// What a distribution's file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionName {
    /// Wheel or sdist.
    pub kind: DistributionKind,
    /// The project name as spelled in the file name.
    pub name: String,
    /// The version as spelled in the file name.
    pub version: String,
}

impl DistributionName {
    /// Parses a file name; `None` when it is neither a wheel nor a `.tar.gz` sdist.
    pub fn parse(file_name: &str) -> Option<Self> {
        if let Some(stem) = file_name.strip_suffix(".whl") {
            let parts: Vec<&str> = stem.split('-').collect();
            if !(parts.len() == 5 || parts.len() == 6) || parts.iter().any(|p| p.is_empty()) {
                return None;
            }
            return Some(Self {
                kind: DistributionKind::Wheel,
                name: parts[0].to_owned(),
                version: parts[1].to_owned(),
            });
        }
        let stem = file_name.strip_suffix(".tar.gz")?;
        let (name, version) = stem.rsplit_once('-')?;
        (!name.is_empty() && !version.is_empty()).then(|| Self {
            kind: DistributionKind::Sdist,
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }

    /// True when the file name names this project and version (names compared normalised; a wheel
    /// spells `-` in a version as `_`).
    pub fn matches(&self, project: &str, version: &str) -> bool {
        normalize_pypi_name(&self.name) == normalize_pypi_name(project)
            && (self.version == version || self.version == version.replace('-', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wheels_and_sdists() {
        let wheel = DistributionName::parse("demo_pkg-1.0-py3-none-any.whl").unwrap();
        assert_eq!(wheel.kind, DistributionKind::Wheel);
        assert!(wheel.matches("Demo.Pkg", "1.0"));
        assert!(!wheel.matches("demo-pkg", "1.1"));
        let built = DistributionName::parse("demo-1.0-1-cp311-cp311-linux_x86_64.whl").unwrap();
        assert_eq!(built.version, "1.0");
        let sdist = DistributionName::parse("demo-pkg-2.0rc1.tar.gz").unwrap();
        assert_eq!(sdist.kind, DistributionKind::Sdist);
        assert!(sdist.matches("demo_pkg", "2.0rc1"));
        for bad in ["demo.zip", "demo-1.0.whl", "demo.tar.gz", "-1.0.tar.gz"] {
            assert_eq!(DistributionName::parse(bad), None, "{bad}");
        }
    }
}
