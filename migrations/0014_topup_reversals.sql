-- 0014: money Stripe takes back from a credited top-up — a refund issued in Stripe, or a dispute
-- (chargeback) while its funds are withdrawn — leaves the wallet too, in proportion: the credit
-- part from the wallet and the fee part from platform:fees. Before, those events were ignored
-- and the wallet kept credit for money that had left Stripe.
--
-- A top-up remembers its PaymentIntent (charges and disputes name it) and how much of what was
-- paid has been taken back, as the latest totals Stripe reported: refunds are cumulative on a
-- charge (amount_refunded), a dispute's withdrawal is reinstated when it is won. Each event posts
-- the difference, under the top-up's row lock, so replays and reorderings post nothing twice.

ALTER TABLE topups
  ADD COLUMN payment_intent_id text UNIQUE,
  ADD COLUMN refunded_micros bigint NOT NULL DEFAULT 0 CHECK (refunded_micros >= 0),
  ADD COLUMN disputed_micros bigint NOT NULL DEFAULT 0 CHECK (disputed_micros >= 0),
  ADD CONSTRAINT topups_taken_back_within_paid CHECK (refunded_micros + disputed_micros <= paid_micros);

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
  CHECK (kind IN ('topup', 'usage', 'refund', 'adjustment', 'reversal'));
