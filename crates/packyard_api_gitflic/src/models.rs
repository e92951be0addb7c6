//! GitFlic's package models, field for field.

use packyard_core::hosted::{PackageInfo, VersionInfo};
use packyard_http::hosted::PackageFileModel;
use serde::Serialize;
use utoipa::ToSchema;

/// `simplePackageInfoModel`: a package.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageModel {
    /// Package uuid.
    pub id: String,
    /// Name.
    pub name: String,
    /// The version published last.
    #[schema(required = true)]
    pub version: Option<String>,
    /// Maven groupId or npm scope; the name for formats without groups.
    pub group_id: String,
    /// Maven artifactId; the name for formats without one.
    pub artifact_id: String,
    /// `generic`, `maven`, `npm`, `pypi` …
    #[serde(rename = "type")]
    pub package_type: String,
    /// The owning group's uuid; empty for GLOBAL packages.
    pub owner_uuid: String,
    /// `GLOBAL` or `COMPANY`.
    pub owner_type: &'static str,
}

impl From<&PackageInfo> for PackageModel {
    fn from(info: &PackageInfo) -> Self {
        let package = &info.package;
        let or_name = |value: &str| {
            if value.is_empty() {
                package.name.clone()
            } else {
                value.to_owned()
            }
        };
        Self {
            id: package.uuid.clone(),
            name: package.name.clone(),
            version: package.latest_version.clone(),
            group_id: or_name(&package.group_name),
            artifact_id: or_name(&package.artifact_id),
            package_type: package.package_type.clone(),
            owner_uuid: info.owner_uuid.clone().unwrap_or_default(),
            owner_type: info.owner_type().as_str(),
        }
    }
}

/// `simplePackageVersionModel`: a version with its files.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageVersionModel {
    /// Version uuid.
    pub id: String,
    /// Base version.
    pub base_version: String,
    /// Version.
    pub version: String,
    /// Lowercased version.
    pub lower_version: String,
    /// Downloads of its files.
    pub download_count: i64,
    /// Language version, if the format has one.
    #[schema(required = true)]
    pub language_version: Option<String>,
    /// How its first file arrived.
    pub package_upload_type: String,
    /// Its files, oldest first.
    pub package_files: Vec<PackageFileModel>,
    /// Deprecated by GitFlic; always null.
    #[schema(required = true, value_type = Option<Object>)]
    pub internal: Option<()>,
}

impl From<&VersionInfo> for PackageVersionModel {
    fn from(info: &VersionInfo) -> Self {
        let version = &info.version;
        Self {
            id: version.uuid.clone(),
            base_version: version.base_version.clone(),
            version: version.version.clone(),
            lower_version: version.lower_version.clone(),
            download_count: version.download_count,
            language_version: version.language_version.clone(),
            package_upload_type: version.upload_type.clone(),
            package_files: info.files.iter().map(PackageFileModel::from).collect(),
            internal: None,
        }
    }
}

/// The packages of a page (`_embedded`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageList {
    /// The packages.
    pub simple_package_info_model_list: Vec<PackageModel>,
}

/// The versions of a page (`_embedded`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionList {
    /// The versions.
    pub simple_package_version_model_list: Vec<PackageVersionModel>,
}

/// The files of a page (`_embedded`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    /// The files.
    pub simple_package_file_model_list: Vec<PackageFileModel>,
}
