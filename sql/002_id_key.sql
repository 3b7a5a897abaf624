-- 002_id_key.sql: the fingerprint of the key that protects id numbers.
-- Applied once by `carewatch db migrate`; safe to run twice.
--
-- elders.id_number_enc is encrypted (pgp_sym_encrypt) under the key in the
-- id-number key file ([privacy] id_key_file, by default {[spool] dir}/id.key).
-- The key itself never enters the database; this one row holds the hex
-- SHA-256 of it (the file's text without its line break). `carewatch db
-- migrate` records it when none is recorded, and `carewatch import` refuses
-- to store id numbers under a key with another fingerprint, so that a
-- restored, regenerated or mistyped key file cannot leave id numbers
-- encrypted under two keys.
CREATE TABLE IF NOT EXISTS id_key (
	single      boolean PRIMARY KEY DEFAULT true CHECK (single),
	fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
	recorded_at timestamptz NOT NULL DEFAULT now()
);
