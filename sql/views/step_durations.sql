-- Completed steps and how long each took (completed_at - created_at, in whole seconds), with its tool types.
-- A tool_calls step appears once under each tool type it used; tool_type is NULL for message_creation steps and
-- for steps without tool calls. The duration queries share this shape.
WITH tool_types AS (
    SELECT DISTINCT step_id, type AS tool_type FROM tool_calls
)
SELECT
    s.step_id,
    s.run_id,
    s.assistant_id,
    s.created_at,
    s.type AS step_type,
    t.tool_type,
    date_diff('second', s.created_at, s.completed_at) AS seconds
FROM run_steps AS s
LEFT JOIN tool_types AS t USING (step_id)
WHERE s.status = 'completed'
  AND s.completed_at IS NOT NULL
