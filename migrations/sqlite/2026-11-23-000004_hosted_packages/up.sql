-- Hosted packages: packages, their versions and files. File bodies are blobs shared with the cache.

-- A stable identifier for a group as a package owner (GitFlic's ownerUuid), assigned when first needed.
ALTER TABLE namespaces ADD COLUMN uuid TEXT NOT NULL DEFAULT '';

CREATE TABLE packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    -- NULL: owned by the service (GLOBAL); else the owning top-level group (COMPANY).
    owner_group_id BIGINT REFERENCES namespaces (id) ON DELETE CASCADE,
    package_type TEXT NOT NULL,
    name TEXT NOT NULL,
    normalized_name TEXT NOT NULL,
    -- Maven groupId or npm scope; '' when the format has none.
    group_name TEXT NOT NULL DEFAULT '',
    -- Maven artifactId; '' when the format has none.
    artifact_id TEXT NOT NULL DEFAULT '',
    latest_version TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX packages_identity
    ON packages (COALESCE(owner_group_id, 0), package_type, normalized_name, group_name, artifact_id);
CREATE INDEX packages_listing ON packages (created_at, id);

CREATE TABLE package_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    package_id BIGINT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    base_version TEXT NOT NULL,
    lower_version TEXT NOT NULL,
    language_version TEXT,
    download_count BIGINT NOT NULL DEFAULT 0,
    upload_type TEXT NOT NULL,
    -- Format metadata as a JSON document (PyPI core metadata, npm version documents ...).
    metadata TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (package_id, version)
);

CREATE TABLE package_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    version_id BIGINT NOT NULL REFERENCES package_versions (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- The sha256 of the content, which is also its blob's key.
    blob_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    size BIGINT NOT NULL,
    file_md5 TEXT NOT NULL,
    file_sha1 TEXT NOT NULL,
    file_sha512 TEXT NOT NULL,
    upload_type TEXT NOT NULL,
    metadata TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (version_id, name)
);
CREATE INDEX package_files_blob ON package_files (blob_sha256);
