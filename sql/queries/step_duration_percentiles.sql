-- Completed step durations (completed_at - created_at, in seconds): p50, p90 and p99 by step type and tool type.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- A tool_calls step counts once under each tool type it used; tool_type is NULL for message_creation steps
-- and for steps without tool calls (the step_durations view). Percentiles interpolate between neighbours
-- (quantile_cont). assistants: comma-separated assistant ids (NULL: every assistant).
SELECT
    step_type,
    tool_type,
    count(*) AS steps,
    quantile_cont(seconds, 0.5) AS p50_s,
    quantile_cont(seconds, 0.9) AS p90_s,
    quantile_cont(seconds, 0.99) AS p99_s,
    max(seconds) AS max_s
FROM step_durations
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY step_type, tool_type
ORDER BY step_type, tool_type NULLS FIRST;
