-- Run steps counted by step type and status.
-- Every step counts once; a type this version does not know appears as sent.
SELECT type, status, count(*) AS steps
FROM run_steps
GROUP BY type, status
ORDER BY type, status;
