-- npm dist-tags: names (latest, next, beta ...) pointing at a version of a hosted npm package.
CREATE TABLE npm_dist_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id BIGINT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (package_id, tag)
);
