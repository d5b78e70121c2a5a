-- Run steps counted by step type and status.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Every step created in [since, until) (UTC) counts once; a type this version does not know appears as sent.
-- assistants: comma-separated assistant ids (NULL: every assistant).
SELECT type, status, count(*) AS steps
FROM run_steps
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY type, status
ORDER BY type, status;
