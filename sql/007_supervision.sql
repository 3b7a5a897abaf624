-- 007: device supervision (SPEC §4). A device-offline ticket or a power-cut
-- storm that clears itself when its devices are heard again is closed by
-- "supervision" with the outcome device_back: none of the operators' six
-- outcomes says that nobody had to go.
ALTER TABLE incidents DROP CONSTRAINT IF EXISTS incidents_outcome_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_outcome_check
	CHECK (outcome IN ('emergency_handled', 'false_alarm', 'test', 'no_access',
	                   'transferred_120', 'transferred_119', 'device_back'));
