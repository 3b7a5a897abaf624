-- 003_deadlines.sql: what the daemon times and knows about offers is all in
-- the database, so that a restart (or a second node) goes on as before.
-- Applied once by `carewatch db migrate`; safe to run twice.

-- When a priority-1 incident escalates if nobody accepts it: opened_at +
-- escalate_after_s for an incident opened at priority 1, the moment of the
-- raise + escalate_after_s for one raised to it. NULL: not timed (priority 2
-- and 3, or rows written before this column; those are timed from opened_at).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS escalate_at timestamptz;

-- An offer an operator made to a responder of their choice (manual
-- dispatch), as opposed to the nearest candidate or the escalation's.
ALTER TABLE offers ADD COLUMN IF NOT EXISTS manual boolean NOT NULL DEFAULT false;
