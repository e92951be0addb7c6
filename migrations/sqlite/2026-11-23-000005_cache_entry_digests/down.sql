DROP INDEX cache_entries_live_etag;
