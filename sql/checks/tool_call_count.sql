-- Each step's tool_call_count equals its number of tool_calls rows.
WITH rows_per_step AS (
    SELECT step_id, count(*) AS tool_call_rows FROM tool_calls GROUP BY step_id
)
SELECT s.step_id, s.type, s.tool_call_count, coalesce(r.tool_call_rows, 0) AS tool_call_rows
FROM run_steps AS s
LEFT JOIN rows_per_step AS r USING (step_id)
WHERE s.tool_call_count IS DISTINCT FROM coalesce(r.tool_call_rows, 0)
ORDER BY s.step_id;
