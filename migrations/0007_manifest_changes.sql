-- 0007: an append-only log of key hashes whose manifest entry may have changed, by the manifest
-- version that changed them, so the control plane can answer edges a delta instead of a snapshot.
--
-- Written by the database itself (deferred constraint triggers on api_keys, org_members, users),
-- not by each route: a route that forgets a call would leave edges serving a revoked key, and a
-- trigger cannot be forgotten. The triggers fire at commit, after the transaction's own
-- bumpManifestVersion, so the log row carries the version that publishes the change; a
-- transaction that changed a key but did not bump gets its bump here, so no change can hide
-- under a version edges already hold.

CREATE TABLE manifest_key_changes (
  version   bigint NOT NULL,
  key_hash  text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  PRIMARY KEY (version, key_hash)
);

-- The log is complete for every version after changes_since: a delta from an older version
-- cannot be answered (the edge gets a snapshot). Pruning the log raises it.
ALTER TABLE manifest_state ADD COLUMN changes_since bigint;
UPDATE manifest_state SET changes_since = version;
ALTER TABLE manifest_state ALTER COLUMN changes_since SET NOT NULL;

CREATE INDEX IF NOT EXISTS api_keys_owner_idx ON api_keys (owner_user_id, org_id);

-- Marks the transaction as having bumped the version (the flag ends with the transaction).
CREATE FUNCTION manifest_state_mark_bumped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('taas.manifest_bumped', 'on', true);
  RETURN NEW;
END $$;
CREATE TRIGGER manifest_state_bumped AFTER UPDATE OF version ON manifest_state
  FOR EACH ROW EXECUTE FUNCTION manifest_state_mark_bumped();

CREATE FUNCTION manifest_record_key_hashes(hashes text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  IF coalesce(current_setting('taas.manifest_bumped', true), '') <> 'on' THEN
    UPDATE manifest_state SET version = version + 1, changed_at = now();
  END IF;
  SELECT version INTO v FROM manifest_state;
  INSERT INTO manifest_key_changes (version, key_hash)
    SELECT v, h FROM unnest(hashes) AS h WHERE h IS NOT NULL
    ON CONFLICT DO NOTHING;
END $$;

CREATE FUNCTION manifest_log_api_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM manifest_record_key_hashes(ARRAY[NEW.key_hash, NEW.previous_key_hash]);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM manifest_record_key_hashes(ARRAY[OLD.key_hash, OLD.previous_key_hash]);
  ELSE
    PERFORM manifest_record_key_hashes(ARRAY[OLD.key_hash, OLD.previous_key_hash, NEW.key_hash, NEW.previous_key_hash]);
  END IF;
  RETURN NULL;
END $$;
-- Only the columns a manifest entry is built from: bookkeeping updates publish nothing.
CREATE CONSTRAINT TRIGGER api_keys_manifest_log
  AFTER INSERT OR DELETE OR UPDATE OF org_id, owner_user_id, key_hash, previous_key_hash, previous_key_expires_at,
    status, expires_at, allowed_models, allowed_regions, allowed_suppliers, budget_limit_micros, budget_period,
    rate_limit_rpm, rate_limit_tpm
  ON api_keys DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION manifest_log_api_key();

-- A membership (joined, left, its budget changed) changes every key its user owns in that org.
CREATE FUNCTION manifest_log_member() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  m org_members;
BEGIN
  m := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  PERFORM manifest_record_key_hashes(ARRAY(
    SELECT h FROM api_keys k, unnest(ARRAY[k.key_hash, k.previous_key_hash]) AS h
     WHERE k.org_id = m.org_id AND k.owner_user_id = m.user_id));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER org_members_manifest_log
  AFTER INSERT OR DELETE OR UPDATE OF budget_limit_micros, budget_period ON org_members
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION manifest_log_member();

-- Disabling or enabling a user changes every key they own.
CREATE FUNCTION manifest_log_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM manifest_record_key_hashes(ARRAY(
    SELECT h FROM api_keys k, unnest(ARRAY[k.key_hash, k.previous_key_hash]) AS h WHERE k.owner_user_id = NEW.id));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER users_manifest_log
  AFTER UPDATE OF status ON users
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION manifest_log_user();
