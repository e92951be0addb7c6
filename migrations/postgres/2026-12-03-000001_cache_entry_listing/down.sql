DROP INDEX cache_entries_path_trigrams;
DROP TRIGGER cache_entries_count_delete ON cache_entries;
DROP TRIGGER cache_entries_count_update ON cache_entries;
DROP TRIGGER cache_entries_count_insert ON cache_entries;
DROP FUNCTION upstream_entry_counts_apply();
DROP TRIGGER upstreams_entry_count ON upstreams;
DROP FUNCTION upstream_entry_counts_create();
DROP TABLE upstream_entry_counts;
DROP INDEX cache_entries_upstream_live;
