-- The part of a version's metadata its format's index serves (npm's install fields), kept beside the
-- whole so that an index is served without parsing every version's document. NULL for versions stored
-- before it existed: the index then derives it from `metadata`.
ALTER TABLE package_versions ADD COLUMN index_metadata TEXT;
