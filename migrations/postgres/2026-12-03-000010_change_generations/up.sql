-- Change generations: one counter per kind of data that the in-memory hot index keeps. Triggers bump a
-- counter in the same transaction as any change that could make a remembered answer wrong; every instance
-- reads the counters every second (and right after its own writes) and forgets what a bumped kind holds.
CREATE TABLE change_generations (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_generations (name, value) VALUES ('identity', 0), ('registries', 0), ('cache', 0), ('hosted', 0);

-- The triggers are deferred to the commit, so a counter is the last lock a change takes, and the first bump
-- of a transaction takes all counters in one order: two changes never wait on each other here, whatever
-- rows they touched before. Each kind is bumped once per transaction, however many rows changed.
CREATE FUNCTION bump_change_generation() RETURNS trigger AS $$
DECLARE
    marker TEXT := 'packyard.bumped_' || TG_ARGV[0];
BEGIN
    IF current_setting(marker, true) = 'yes' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(marker, 'yes', true);
    PERFORM 1 FROM change_generations ORDER BY name FOR UPDATE;
    UPDATE change_generations SET value = value + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER users_bumps_identity AFTER UPDATE OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('identity');

CREATE CONSTRAINT TRIGGER namespaces_bumps_identity AFTER UPDATE OR DELETE ON namespaces
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('identity');

CREATE CONSTRAINT TRIGGER group_members_bumps_identity AFTER INSERT OR UPDATE OR DELETE ON group_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('identity');

CREATE CONSTRAINT TRIGGER personal_access_tokens_bumps_identity AFTER UPDATE OF user_id, token_digest, scopes, expires_at, revoked OR DELETE ON personal_access_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('identity');

CREATE CONSTRAINT TRIGGER deploy_tokens_bumps_identity AFTER UPDATE OR DELETE ON deploy_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('identity');

CREATE CONSTRAINT TRIGGER virtual_registries_bumps_registries AFTER UPDATE OR DELETE ON virtual_registries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('registries');

CREATE CONSTRAINT TRIGGER upstreams_bumps_registries AFTER UPDATE OR DELETE ON upstreams
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('registries');

CREATE CONSTRAINT TRIGGER registry_upstreams_bumps_registries AFTER INSERT OR UPDATE OR DELETE ON registry_upstreams
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('registries');

CREATE CONSTRAINT TRIGGER packages_bumps_hosted AFTER DELETE ON packages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('hosted');

CREATE CONSTRAINT TRIGGER package_versions_bumps_hosted AFTER DELETE ON package_versions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('hosted');

CREATE CONSTRAINT TRIGGER package_files_bumps_hosted AFTER UPDATE OR DELETE ON package_files
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_generation('hosted');

-- A cache entry matters when it is hidden, removed while live, points at other content or is made older
-- than it was; the counters (downloads) and a newer check change nothing that is remembered.
CREATE CONSTRAINT TRIGGER cache_entries_update_bumps_cache AFTER UPDATE ON cache_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.blob_sha256 IS DISTINCT FROM NEW.blob_sha256
          OR NEW.upstream_checked_at < OLD.upstream_checked_at)
    EXECUTE FUNCTION bump_change_generation('cache');
CREATE CONSTRAINT TRIGGER cache_entries_delete_bumps_cache AFTER DELETE ON cache_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status = 0)
    EXECUTE FUNCTION bump_change_generation('cache');
