-- Completed step durations (completed_at - created_at, in seconds): p50, p90 and p99 by step type and tool type.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- A tool_calls step counts once under each tool type it used; tool_type is NULL for message_creation steps
-- and for steps without tool calls. Percentiles interpolate between neighbours (quantile_cont).
WITH durations AS (
    SELECT
        step_id,
        type AS step_type,
        date_diff('second', created_at, completed_at) AS seconds
    FROM run_steps
    WHERE status = 'completed'
      AND completed_at IS NOT NULL
      AND created_at >= CAST($since AS TIMESTAMPTZ)
      AND created_at < CAST($until AS TIMESTAMPTZ)
),
tool_types AS (
    SELECT DISTINCT step_id, type AS tool_type FROM tool_calls
)
SELECT
    step_type,
    tool_type,
    count(*) AS steps,
    quantile_cont(seconds, 0.5) AS p50_s,
    quantile_cont(seconds, 0.9) AS p90_s,
    quantile_cont(seconds, 0.99) AS p99_s,
    max(seconds) AS max_s
FROM durations
LEFT JOIN tool_types USING (step_id)
GROUP BY step_type, tool_type
ORDER BY step_type, tool_type NULLS FIRST;
