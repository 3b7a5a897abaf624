-- 014_spool_keys.sql: a key for every row the daemon only ever inserts
-- (history, replies, dead letters, audit rows), so that a batch written
-- twice stores each row once. The database-outage spool (issue 9) writes
-- its journal back after the outage, and again from the start if the
-- daemon dies while doing so; a batch whose commit answer was lost is sent
-- again too. The daemon makes the key: a random prefix per process and a
-- counter. Rows from before this migration have none.
ALTER TABLE incident_history ADD COLUMN IF NOT EXISTS rkey text;
CREATE UNIQUE INDEX IF NOT EXISTS incident_history_rkey ON incident_history (rkey);
ALTER TABLE replies ADD COLUMN IF NOT EXISTS rkey text;
CREATE UNIQUE INDEX IF NOT EXISTS replies_rkey ON replies (rkey);
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS rkey text;
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_rkey ON dead_letters (rkey);
-- not part of the audit hash (audit_canonical names its fields)
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS rkey text;
CREATE UNIQUE INDEX IF NOT EXISTS audit_log_rkey ON audit_log (rkey);
