-- Listing an upstream's live entries, newest first, pages by id along this index, reading no row it skips.
CREATE INDEX cache_entries_upstream_live ON cache_entries (upstream_id, status, id);

-- The number of live entries of each upstream, kept by triggers, so that a list's total is one row read
-- rather than a count of every entry.
CREATE TABLE upstream_entry_counts (
    upstream_id INTEGER PRIMARY KEY NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    live_entries BIGINT NOT NULL
);
INSERT INTO upstream_entry_counts (upstream_id, live_entries)
SELECT u.id, (SELECT count(*) FROM cache_entries e WHERE e.upstream_id = u.id AND e.status = 0)
FROM upstreams u;

CREATE TRIGGER upstreams_entry_count AFTER INSERT ON upstreams BEGIN
    INSERT INTO upstream_entry_counts (upstream_id, live_entries) VALUES (NEW.id, 0);
END;
CREATE TRIGGER cache_entries_count_insert AFTER INSERT ON cache_entries WHEN NEW.status = 0 BEGIN
    UPDATE upstream_entry_counts SET live_entries = live_entries + 1 WHERE upstream_id = NEW.upstream_id;
END;
CREATE TRIGGER cache_entries_count_update AFTER UPDATE OF status, upstream_id ON cache_entries
WHEN (OLD.status = 0) <> (NEW.status = 0) OR OLD.upstream_id <> NEW.upstream_id BEGIN
    UPDATE upstream_entry_counts SET live_entries = live_entries - 1
    WHERE upstream_id = OLD.upstream_id AND OLD.status = 0;
    UPDATE upstream_entry_counts SET live_entries = live_entries + 1
    WHERE upstream_id = NEW.upstream_id AND NEW.status = 0;
END;
CREATE TRIGGER cache_entries_count_delete AFTER DELETE ON cache_entries WHEN OLD.status = 0 BEGIN
    UPDATE upstream_entry_counts SET live_entries = live_entries - 1 WHERE upstream_id = OLD.upstream_id;
END;

-- The `search` of a list, a case-insensitive substring of the path, is served by a trigram index of the
-- paths (FTS5, SQLite 3.34 or later) over the entries' own rows; the list still checks each candidate
-- with LIKE, so the index only narrows.
CREATE VIRTUAL TABLE cache_entry_paths USING fts5(
    relative_path, content = 'cache_entries', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO cache_entry_paths (cache_entry_paths) VALUES ('rebuild');
CREATE TRIGGER cache_entries_paths_insert AFTER INSERT ON cache_entries BEGIN
    INSERT INTO cache_entry_paths (rowid, relative_path) VALUES (NEW.id, NEW.relative_path);
END;
CREATE TRIGGER cache_entries_paths_update AFTER UPDATE OF relative_path ON cache_entries BEGIN
    INSERT INTO cache_entry_paths (cache_entry_paths, rowid, relative_path)
    VALUES ('delete', OLD.id, OLD.relative_path);
    INSERT INTO cache_entry_paths (rowid, relative_path) VALUES (NEW.id, NEW.relative_path);
END;
CREATE TRIGGER cache_entries_paths_delete AFTER DELETE ON cache_entries BEGIN
    INSERT INTO cache_entry_paths (cache_entry_paths, rowid, relative_path)
    VALUES ('delete', OLD.id, OLD.relative_path);
END;
