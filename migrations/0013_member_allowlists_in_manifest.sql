-- 0013: a member's allowlists travel in the manifest with each key they own (owner_allowed_*),
-- so narrowing them reaches keys written before the change. The delta log must then record
-- those keys when the lists change, as it does for the member's budget (0007).

DROP TRIGGER org_members_manifest_log ON org_members;
CREATE CONSTRAINT TRIGGER org_members_manifest_log
  AFTER INSERT OR DELETE OR UPDATE OF budget_limit_micros, budget_period, allowed_models, allowed_regions, allowed_suppliers
  ON org_members
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION manifest_log_member();
