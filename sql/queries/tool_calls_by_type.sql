-- Tool calls counted by tool type, with the steps and runs they appear in.
-- A tool type this version does not know appears as sent.
SELECT type, count(*) AS tool_calls, count(DISTINCT step_id) AS steps, count(DISTINCT run_id) AS runs
FROM tool_calls
GROUP BY type
ORDER BY tool_calls DESC, type;
