DROP TABLE package_files;
DROP TABLE package_versions;
DROP TABLE packages;
ALTER TABLE namespaces DROP COLUMN uuid;
