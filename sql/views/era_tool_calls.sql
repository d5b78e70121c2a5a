-- Tool calls of both eras, one row each: run step tool calls (Assistants) and the tool call items a response output
-- (Responses). tool is the type without its '_call' suffix (function, file_search, code_interpreter, web_search,
-- mcp, ...), so the same tool has one name in both eras; a type this version does not know is kept as sent.
SELECT
    'assistants' AS era,
    c.run_id AS unit_id,
    c.assistant_id AS agent,
    CAST(c.created_at AS DATE) AS day,
    c.type AS tool,
    c.function_name AS name,
    c.step_status AS status
FROM step_tool_calls AS c
UNION ALL
SELECT
    'responses' AS era,
    i.response_id AS unit_id,
    r.agent,
    CAST(i.created_at AS DATE) AS day,
    regexp_replace(i.type, '_call$', '') AS tool,
    i.name,
    i.status
FROM response_items AS i
JOIN responses AS r USING (response_id)
WHERE i.direction = 'output'
  AND (i.type LIKE '%\_call' ESCAPE '\' OR i.type IN ('mcp_list_tools', 'mcp_approval_request'))
