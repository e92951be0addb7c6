DROP TABLE cleanup_policies;
DROP TABLE jobs;
DROP INDEX cache_entries_downloaded;
DROP INDEX blobs_orphaned;
ALTER TABLE blobs DROP COLUMN deleting;
ALTER TABLE blobs DROP COLUMN orphaned_at;
ALTER TABLE blobs DROP COLUMN written_at;
