ALTER TABLE package_versions DROP COLUMN index_metadata;
