-- Listing an upstream's live entries, newest first, pages by id along this index, reading no row it skips.
CREATE INDEX cache_entries_upstream_live ON cache_entries (upstream_id, status, id);

-- The number of live entries of each upstream, kept by triggers, so that a list's total is one row read
-- rather than a count of every entry.
CREATE TABLE upstream_entry_counts (
    upstream_id BIGINT PRIMARY KEY REFERENCES upstreams (id) ON DELETE CASCADE,
    live_entries BIGINT NOT NULL
);
INSERT INTO upstream_entry_counts (upstream_id, live_entries)
SELECT u.id, (SELECT count(*) FROM cache_entries e WHERE e.upstream_id = u.id AND e.status = 0)
FROM upstreams u;

CREATE FUNCTION upstream_entry_counts_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO upstream_entry_counts (upstream_id, live_entries) VALUES (NEW.id, 0);
    RETURN NULL;
END
$$;
CREATE TRIGGER upstreams_entry_count AFTER INSERT ON upstreams
    FOR EACH ROW EXECUTE FUNCTION upstream_entry_counts_create();

-- Per statement, so that hiding all entries of an upstream updates its count once. An update that leaves
-- the number of live entries as it was (a download, a refetch) writes nothing.
CREATE FUNCTION upstream_entry_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE upstream_entry_counts c SET live_entries = c.live_entries + d.n
        FROM (SELECT upstream_id, count(*) AS n FROM new_rows WHERE status = 0 GROUP BY upstream_id) d
        WHERE c.upstream_id = d.upstream_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE upstream_entry_counts c SET live_entries = c.live_entries - d.n
        FROM (SELECT upstream_id, count(*) AS n FROM old_rows WHERE status = 0 GROUP BY upstream_id) d
        WHERE c.upstream_id = d.upstream_id;
    ELSE
        UPDATE upstream_entry_counts c SET live_entries = c.live_entries + d.n
        FROM (
            SELECT upstream_id, sum(n) AS n
            FROM (
                SELECT upstream_id, 1 AS n FROM new_rows WHERE status = 0
                UNION ALL
                SELECT upstream_id, -1 AS n FROM old_rows WHERE status = 0
            ) changes
            GROUP BY upstream_id
            HAVING sum(n) <> 0
        ) d
        WHERE c.upstream_id = d.upstream_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER cache_entries_count_insert AFTER INSERT ON cache_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION upstream_entry_counts_apply();
CREATE TRIGGER cache_entries_count_update AFTER UPDATE ON cache_entries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION upstream_entry_counts_apply();
CREATE TRIGGER cache_entries_count_delete AFTER DELETE ON cache_entries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION upstream_entry_counts_apply();

-- The `search` of a list, a case-insensitive substring of the path, is served by trigrams. pg_trgm is a
-- trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX cache_entries_path_trigrams ON cache_entries USING gin (lower(relative_path) gin_trgm_ops);
