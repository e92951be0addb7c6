-- Container pulls by digest find the entry whose content has that digest (a manifest cached by tag).
CREATE INDEX cache_entries_live_etag ON cache_entries (upstream_etag, upstream_id) WHERE status = 0;
