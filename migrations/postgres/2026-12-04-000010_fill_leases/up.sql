-- Fill leases: the instance that holds the lease of (upstream, path) is the only one fetching that file from
-- the upstream; the others wait for its cache entry. A lease is extended while its fill runs and deleted
-- when the fill ends, so one left by an instance that died is taken over once it has expired.
CREATE TABLE fill_leases (
    upstream_id BIGINT NOT NULL,
    relative_path TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (upstream_id, relative_path)
);
