-- Every tool call, code output and file search result belongs to a step, and every output and result to a tool call.
-- Lists each such row whose parent is missing: missing = 'step' or 'tool_call'.
WITH children AS (
    SELECT 'tool_calls' AS table_name, step_id, tool_call_index, NULL::INTEGER AS item_index
    FROM tool_calls
    UNION ALL
    SELECT 'code_interpreter_outputs', step_id, tool_call_index, output_index
    FROM code_interpreter_outputs
    UNION ALL
    SELECT 'file_search_results', step_id, tool_call_index, result_index
    FROM file_search_results
)
SELECT
    c.table_name,
    c.step_id,
    c.tool_call_index,
    c.item_index,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM run_steps AS s WHERE s.step_id = c.step_id) THEN 'step'
        ELSE 'tool_call'
    END AS missing
FROM children AS c
WHERE NOT EXISTS (SELECT 1 FROM run_steps AS s WHERE s.step_id = c.step_id)
   OR (
       c.table_name <> 'tool_calls'
       AND NOT EXISTS (
           SELECT 1 FROM tool_calls AS t
           WHERE t.step_id = c.step_id AND t.tool_call_index = c.tool_call_index
       )
   )
ORDER BY c.table_name, c.step_id, c.tool_call_index, c.item_index;
