-- Tool calls per UTC day and tool type, with the steps and runs they appear in: the tool mix over time.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Counts tool calls of steps created in [since, until) (UTC); a tool type this version does not know appears as
-- sent. assistants: comma-separated assistant ids (NULL: every assistant).
SELECT
    (created_at AT TIME ZONE 'UTC')::DATE AS day,
    type AS tool_type,
    count(*) AS tool_calls,
    count(DISTINCT step_id) AS steps,
    count(DISTINCT run_id) AS runs
FROM step_tool_calls
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY day, type
ORDER BY day, tool_type;
