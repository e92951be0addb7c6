CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE namespaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    full_path TEXT NOT NULL UNIQUE,
    parent_id BIGINT REFERENCES namespaces (id) ON DELETE CASCADE,
    root_id BIGINT,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE personal_access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at TIMESTAMP,
    revoked BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

CREATE TABLE deploy_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    username TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at TIMESTAMP,
    revoked BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE virtual_registries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    format TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (group_id, format, name)
);

CREATE TABLE upstreams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    format TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    url TEXT NOT NULL,
    username TEXT,
    password_encrypted TEXT,
    cache_validity_hours INTEGER NOT NULL,
    metadata_cache_validity_hours INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX upstreams_group ON upstreams (group_id, format);

CREATE TABLE registry_upstreams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    registry_id BIGINT NOT NULL REFERENCES virtual_registries (id) ON DELETE CASCADE,
    upstream_id BIGINT NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    UNIQUE (registry_id, upstream_id),
    UNIQUE (registry_id, position)
);
CREATE INDEX registry_upstreams_upstream ON registry_upstreams (upstream_id);

CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY NOT NULL,
    size BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE cache_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    upstream_id BIGINT NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    relative_path TEXT NOT NULL,
    blob_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    size BIGINT NOT NULL,
    file_sha1 TEXT NOT NULL,
    file_md5 TEXT,
    content_type TEXT NOT NULL,
    upstream_etag TEXT,
    upstream_checked_at TIMESTAMP NOT NULL,
    downloads_count BIGINT NOT NULL DEFAULT 0,
    downloaded_at TIMESTAMP,
    status INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX cache_entries_live_path ON cache_entries (upstream_id, relative_path) WHERE status = 0;
CREATE INDEX cache_entries_blob ON cache_entries (blob_sha256);
CREATE INDEX cache_entries_status ON cache_entries (status);
