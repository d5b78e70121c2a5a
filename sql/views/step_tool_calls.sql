-- Tool calls with their step's assistant, status and error: the shape the tool queries share.
-- Calls whose step is missing are left out here (the orphan_rows check reports them).
SELECT
    c.step_id,
    c.tool_call_index,
    c.tool_call_id,
    c.run_id,
    c.thread_id,
    s.assistant_id,
    c.created_at,
    c.type,
    c.function_name,
    c.function_arguments,
    c.function_output,
    c.code_input,
    c.file_search_ranker,
    c.file_search_score_threshold,
    s.type AS step_type,
    s.status AS step_status,
    s.completed_at AS step_completed_at,
    s.last_error_code AS step_error_code
FROM tool_calls AS c
JOIN run_steps AS s USING (step_id)
