-- Function calls whose output was never submitted (function.output is NULL), oldest first.
-- param: include_in_progress = false
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- A step still in_progress may only be waiting for its outputs: such calls are listed when include_in_progress
-- is true. Counts calls of steps created in [since, until) (UTC). assistants: comma-separated assistant ids (NULL: every assistant).
SELECT
    created_at,
    assistant_id,
    thread_id,
    run_id,
    step_id,
    tool_call_index,
    tool_call_id,
    function_name,
    step_status,
    step_error_code
FROM step_tool_calls
WHERE type = 'function'
  AND function_output IS NULL
  AND (step_status IS DISTINCT FROM 'in_progress' OR CAST($include_in_progress AS BOOLEAN))
  AND created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
ORDER BY created_at, step_id, tool_call_index;
