-- 0009: the manifest change log (0007) is pruned. Each row records when it was written, so the
-- control plane can drop changes older than any manifest an edge may still hold (an edge whose
-- manifest is past its hard expiry needs a snapshot anyway) and advance changes_since past them.

ALTER TABLE manifest_key_changes ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX manifest_key_changes_changed_at_idx ON manifest_key_changes (changed_at);
