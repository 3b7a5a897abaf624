-- 006_positions.sql - live positions and flood control (issue 7).
--
-- Live positions: volunteers.live_lat, live_lon and live_at (001) hold the
-- latest OwnTracks fix of each volunteer and nothing else. No position
-- history is kept anywhere: a new fix overwrites the old one. Positions are
-- personal data; clearing them is `UPDATE volunteers SET live_lat = NULL,
-- live_lon = NULL, live_at = NULL`.
COMMENT ON COLUMN volunteers.live_at IS
	'time of the latest OwnTracks fix (its tst); only the latest fix is kept, no history';

-- Flood control: a device over its token bucket gets one dead letter per
-- window (reason rate_limited), holding the first dropped payload and the
-- count of events dropped in that window. window_key names the device and
-- window; other dead letters leave it NULL (and dropped at 1).
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS dropped integer NOT NULL DEFAULT 1;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS window_key text;
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_window_key ON dead_letters (window_key);
