-- 0010: the prepaid wallet ledger (PRODUCT.md §5). Append-only double entry: every money movement
-- is one ledger_transactions row with two or more ledger_entries whose amounts sum to zero, and an
-- account's balance_micros is maintained by the database from its entries, so it always equals
-- their sum. Money is integer micro-USD (bigint) throughout.
--
-- Sign convention: a positive balance is what the platform owes or has earned — a wallet's credit
-- (`wallet:<org id>`), fee income (`platform:fees`), usage revenue (`platform:revenue`). A negative
-- balance is the other side: money received at Stripe (`platform:stripe`), credit given away by
-- adjustments (`platform:adjustments`). A $100 top-up posts stripe -100, wallet +95.238095,
-- fees +4.761905.
--
-- Also here: the low-balance threshold and its alerts, our row per Stripe Checkout Session
-- (`topups`), and the Stripe event ids already handled (exactly-once webhooks).

-- 1. Accounts ------------------------------------------------------------------------------------

CREATE TABLE ledger_accounts (
  id              text PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('wallet', 'platform')),
  org_id          uuid UNIQUE REFERENCES orgs (id),
  balance_micros  bigint NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (kind = 'wallet' AND org_id IS NOT NULL AND id = 'wallet:' || org_id::text
      OR kind = 'platform' AND org_id IS NULL AND id ~ '^platform:[a-z][a-z0-9_]{0,63}$')
);

INSERT INTO ledger_accounts (id, kind) VALUES
  ('platform:stripe', 'platform'),       -- money received through Stripe (negative: cash in)
  ('platform:fees', 'platform'),         -- the 5% top-up fee
  ('platform:revenue', 'platform'),      -- usage charged to wallets
  ('platform:adjustments', 'platform');  -- credit granted or taken back by platform staff

-- 2. Transactions and entries ---------------------------------------------------------------------

-- `ref` makes posting idempotent: a top-up's Checkout Session id, a usage batch's reference, or a
-- fresh id for an adjustment. One usage batch debits several orgs, hence (kind, ref, org_id).
-- `actor` says who moved the money: 'user:<uuid>', 'stripe:<event id>', 'usage:<node id>', 'system'.
-- `xact` is stamped by the database: entries may only join a transaction created by the same
-- database transaction, so a committed transaction's entries can never be added to later.
CREATE TABLE ledger_transactions (
  id          uuid PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('topup', 'usage', 'refund', 'adjustment')),
  org_id      uuid NOT NULL REFERENCES orgs (id),
  ref         text NOT NULL CHECK (length(ref) BETWEEN 1 AND 255),
  actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 255),
  memo        text NOT NULL DEFAULT '' CHECK (length(memo) <= 500),
  xact        xid8 NOT NULL DEFAULT pg_current_xact_id(),
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, ref, org_id)
);
CREATE INDEX ledger_transactions_org_idx ON ledger_transactions (org_id, id);

CREATE TABLE ledger_entries (
  id              uuid PRIMARY KEY,
  transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id),
  account_id      text NOT NULL REFERENCES ledger_accounts (id),
  amount_micros   bigint NOT NULL CHECK (amount_micros <> 0),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

-- 3. The database keeps the books straight -------------------------------------------------------

CREATE FUNCTION ledger_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_transactions_no_update_delete BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entries_no_update_delete BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();

-- The database, not the caller, stamps when and in which database transaction a row was written.
CREATE FUNCTION ledger_transactions_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.xact := pg_current_xact_id();
  NEW.created_at := now();
  RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_transactions_stamp BEFORE INSERT ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_transactions_stamp();

CREATE FUNCTION ledger_entries_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM ledger_transactions t WHERE t.id = NEW.transaction_id AND t.xact = pg_current_xact_id()) THEN
    RAISE EXCEPTION 'ledger entry for transaction %: entries are written only together with their transaction', NEW.transaction_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  NEW.created_at := now();
  RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_entries_stamp BEFORE INSERT ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_entries_stamp();

-- Balances follow their entries. SECURITY DEFINER: the application role holds no UPDATE on
-- ledger_accounts, so this trigger is the only way a balance moves.
CREATE FUNCTION ledger_entries_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE ledger_accounts SET balance_micros = balance_micros + NEW.amount_micros WHERE id = NEW.account_id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_entries_apply AFTER INSERT ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_entries_apply();

-- An account's identity never changes, its balance moves only from ledger_entries_apply (nested
-- one trigger deep), and it starts at zero.
CREATE FUNCTION ledger_accounts_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.balance_micros := 0;
    RETURN NEW;
  END IF;
  IF NEW.id IS DISTINCT FROM OLD.id OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.org_id IS DISTINCT FROM OLD.org_id
     OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR (NEW.balance_micros IS DISTINCT FROM OLD.balance_micros AND pg_trigger_depth() < 2) THEN
    RAISE EXCEPTION 'ledger_accounts: a balance changes only by posting ledger entries'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_accounts_guard BEFORE INSERT OR UPDATE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_accounts_guard();

-- Each transaction balances: at commit, it has at least two entries and they sum to zero. Checked
-- from both sides, so neither a transaction without entries nor a lone entry can commit.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  tx_id uuid;
  total numeric;
  n bigint;
BEGIN
  -- Separate statements: each is planned only when reached, and each table has only its own column.
  IF TG_TABLE_NAME = 'ledger_entries' THEN
    tx_id := NEW.transaction_id;
  ELSE
    tx_id := NEW.id;
  END IF;
  SELECT coalesce(sum(e.amount_micros), 0), count(*) INTO total, n FROM ledger_entries e WHERE e.transaction_id = tx_id;
  IF n < 2 OR total <> 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance: % entries summing to % µUSD', tx_id, n, total
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

-- ENABLE ALWAYS, as for audit_log: the guards hold under session_replication_role = replica too.
-- ledger_entries_apply stays ORIGIN-only on purpose: a logical-replication subscriber receives the
-- balance updates themselves and must not apply them twice.
ALTER TABLE ledger_transactions ENABLE ALWAYS TRIGGER ledger_transactions_no_update_delete;
ALTER TABLE ledger_transactions ENABLE ALWAYS TRIGGER ledger_transactions_no_truncate;
ALTER TABLE ledger_transactions ENABLE ALWAYS TRIGGER ledger_transactions_stamp;
ALTER TABLE ledger_transactions ENABLE ALWAYS TRIGGER ledger_transactions_balanced;
ALTER TABLE ledger_entries ENABLE ALWAYS TRIGGER ledger_entries_no_update_delete;
ALTER TABLE ledger_entries ENABLE ALWAYS TRIGGER ledger_entries_no_truncate;
ALTER TABLE ledger_entries ENABLE ALWAYS TRIGGER ledger_entries_stamp;
ALTER TABLE ledger_entries ENABLE ALWAYS TRIGGER ledger_entries_balanced;
ALTER TABLE ledger_accounts ENABLE ALWAYS TRIGGER ledger_accounts_no_delete;
ALTER TABLE ledger_accounts ENABLE ALWAYS TRIGGER ledger_accounts_no_truncate;
ALTER TABLE ledger_accounts ENABLE ALWAYS TRIGGER ledger_accounts_guard;

-- 4. Wallets and their low-balance alert ----------------------------------------------------------

-- `low_balance_alerted`: the balance is below the threshold and its alert was emitted; cleared
-- (re-armed) once the balance is back at or above the threshold. A new wallet starts at $0, below
-- the default $10, and starts alerted: an alert marks a crossing, and a new org has not crossed.
CREATE TABLE wallet_settings (
  org_id                        uuid PRIMARY KEY REFERENCES orgs (id),
  low_balance_threshold_micros  bigint NOT NULL DEFAULT 10000000
                                  CHECK (low_balance_threshold_micros BETWEEN 0 AND 1000000000000),
  low_balance_alerted           boolean NOT NULL DEFAULT true,
  updated_at                    timestamptz NOT NULL DEFAULT now()
);

-- One row per downward crossing of the threshold. Metadata only.
CREATE TABLE wallet_alerts (
  id                uuid PRIMARY KEY,
  org_id            uuid NOT NULL REFERENCES orgs (id),
  kind              text NOT NULL CHECK (kind IN ('low_balance')),
  balance_micros    bigint NOT NULL,
  threshold_micros  bigint NOT NULL,
  -- The posting that crossed; null when a threshold change did.
  transaction_id    uuid REFERENCES ledger_transactions (id),
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wallet_alerts_org_idx ON wallet_alerts (org_id, id);

CREATE FUNCTION orgs_open_wallet() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_accounts (id, kind, org_id) VALUES ('wallet:' || NEW.id::text, 'wallet', NEW.id);
  INSERT INTO wallet_settings (org_id) VALUES (NEW.id);
  RETURN NULL;
END;
$$;
CREATE TRIGGER orgs_open_wallet AFTER INSERT ON orgs FOR EACH ROW EXECUTE FUNCTION orgs_open_wallet();

INSERT INTO ledger_accounts (id, kind, org_id) SELECT 'wallet:' || id::text, 'wallet', id FROM orgs;
INSERT INTO wallet_settings (org_id) SELECT id FROM orgs;

-- 5. Stripe top-ups -------------------------------------------------------------------------------

-- Our row per Checkout Session, written when the session is created; the webhook credits it at
-- most once (status 'open' → 'credited', with the ledger transaction it posted). Paid amounts are
-- whole cents within $5..$5,000; credit + fee = paid exactly.
CREATE TABLE topups (
  id                   uuid PRIMARY KEY,
  org_id               uuid NOT NULL REFERENCES orgs (id),
  paid_micros          bigint NOT NULL CHECK (paid_micros BETWEEN 5000000 AND 5000000000 AND paid_micros % 10000 = 0),
  credit_micros        bigint NOT NULL CHECK (credit_micros > 0),
  fee_micros           bigint NOT NULL CHECK (fee_micros >= 0),
  currency             text NOT NULL DEFAULT 'usd' CHECK (currency = 'usd'),
  checkout_session_id  text NOT NULL UNIQUE CHECK (length(checkout_session_id) BETWEEN 1 AND 255),
  checkout_url         text,
  status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'credited', 'expired', 'failed')),
  created_by           uuid REFERENCES users (id),
  created_at           timestamptz NOT NULL DEFAULT now(),
  closed_at            timestamptz,
  transaction_id       uuid UNIQUE REFERENCES ledger_transactions (id),
  CHECK (credit_micros + fee_micros = paid_micros),
  CHECK ((status = 'credited') = (transaction_id IS NOT NULL)),
  CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX topups_org_idx ON topups (org_id, id);

-- Every Stripe event id handled, claimed in the same transaction as its effect: a retried or
-- replayed delivery finds its id here and changes nothing.
CREATE TABLE stripe_events (
  id                   text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
  type                 text NOT NULL,
  checkout_session_id  text,
  outcome              text NOT NULL DEFAULT 'received',
  received_at          timestamptz NOT NULL DEFAULT now()
);

-- 6. The application role -------------------------------------------------------------------------

-- Explicit grants (0004's default privileges cover only tables created by its own role), then
-- the ledger tables become insert-only for the app: balances move by trigger, rows never change.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taas_app') THEN
    RAISE NOTICE 'taas_app does not exist: grant it SELECT, INSERT on the ledger tables as in 0010_ledger.sql';
    RETURN;
  END IF;
  GRANT SELECT, INSERT ON ledger_accounts, ledger_transactions, ledger_entries, wallet_alerts TO taas_app;
  GRANT SELECT, INSERT, UPDATE ON wallet_settings, topups, stripe_events TO taas_app;
  REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ledger_accounts, ledger_transactions, ledger_entries, wallet_alerts FROM taas_app;
  REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON wallet_settings, topups, stripe_events FROM taas_app;
END
$$;
