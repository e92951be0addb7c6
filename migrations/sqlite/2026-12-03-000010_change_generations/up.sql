-- Change generations: one counter per kind of data that the in-memory hot index keeps. Triggers bump a
-- counter in the same transaction as any change that could make a remembered answer wrong; every instance
-- reads the counters every second (and right after its own writes) and forgets what a bumped kind holds.
CREATE TABLE change_generations (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_generations (name, value) VALUES ('identity', 0), ('registries', 0), ('cache', 0), ('hosted', 0);

CREATE TRIGGER users_update_bumps_identity AFTER UPDATE ON users BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER users_delete_bumps_identity AFTER DELETE ON users BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER namespaces_update_bumps_identity AFTER UPDATE ON namespaces BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER namespaces_delete_bumps_identity AFTER DELETE ON namespaces BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER group_members_insert_bumps_identity AFTER INSERT ON group_members BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER group_members_update_bumps_identity AFTER UPDATE ON group_members BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER group_members_delete_bumps_identity AFTER DELETE ON group_members BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER personal_access_tokens_update_bumps_identity AFTER UPDATE OF user_id, token_digest, scopes, expires_at, revoked ON personal_access_tokens BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER personal_access_tokens_delete_bumps_identity AFTER DELETE ON personal_access_tokens BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER deploy_tokens_update_bumps_identity AFTER UPDATE ON deploy_tokens BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER deploy_tokens_delete_bumps_identity AFTER DELETE ON deploy_tokens BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'identity';
END;

CREATE TRIGGER virtual_registries_update_bumps_registries AFTER UPDATE ON virtual_registries BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER virtual_registries_delete_bumps_registries AFTER DELETE ON virtual_registries BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER upstreams_update_bumps_registries AFTER UPDATE ON upstreams BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER upstreams_delete_bumps_registries AFTER DELETE ON upstreams BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER registry_upstreams_insert_bumps_registries AFTER INSERT ON registry_upstreams BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER registry_upstreams_update_bumps_registries AFTER UPDATE ON registry_upstreams BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER registry_upstreams_delete_bumps_registries AFTER DELETE ON registry_upstreams BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'registries';
END;

CREATE TRIGGER packages_delete_bumps_hosted AFTER DELETE ON packages BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'hosted';
END;

CREATE TRIGGER package_versions_delete_bumps_hosted AFTER DELETE ON package_versions BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'hosted';
END;

CREATE TRIGGER package_files_update_bumps_hosted AFTER UPDATE ON package_files BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'hosted';
END;

CREATE TRIGGER package_files_delete_bumps_hosted AFTER DELETE ON package_files BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'hosted';
END;

-- A cache entry matters when it is hidden, removed while live, points at other content or is made older
-- than it was; the counters (downloads) and a newer check change nothing that is remembered.
CREATE TRIGGER cache_entries_update_bumps_cache
AFTER UPDATE OF status, blob_sha256, upstream_checked_at ON cache_entries
WHEN OLD.status IS NOT NEW.status OR OLD.blob_sha256 IS NOT NEW.blob_sha256
    OR NEW.upstream_checked_at < OLD.upstream_checked_at BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'cache';
END;
CREATE TRIGGER cache_entries_delete_bumps_cache AFTER DELETE ON cache_entries WHEN OLD.status = 0 BEGIN
    UPDATE change_generations SET value = value + 1 WHERE name = 'cache';
END;
