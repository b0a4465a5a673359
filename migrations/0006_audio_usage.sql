-- 0006: audio is billed per second (PRODUCT.md §5): each usage row keeps the seconds it was
-- priced for, to the millisecond. Rows from before, and every token-billed row, hold 0.

ALTER TABLE usage_events
  ADD COLUMN audio_seconds numeric(10, 3) NOT NULL DEFAULT 0 CHECK (audio_seconds >= 0);
