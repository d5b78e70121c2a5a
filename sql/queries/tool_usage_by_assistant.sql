-- Tool usage mix per assistant: calls per tool type and function name, and their share of the assistant's calls.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Counts tool calls of steps created in [since, until) (UTC). function_name is NULL for other tool types.
-- assistants: comma-separated assistant ids (NULL: every assistant).
-- assistant_name is the assistants table's (NULL where the export holds no row for the assistant).
SELECT
    assistant_id,
    (SELECT max(a.name) FROM assistants AS a WHERE a.assistant_id = c.assistant_id) AS assistant_name,
    type AS tool_type,
    function_name,
    count(*) AS calls,
    count(DISTINCT step_id) AS steps,
    count(*) / sum(count(*)) OVER (PARTITION BY assistant_id) AS share
FROM step_tool_calls AS c
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY assistant_id, type, function_name
ORDER BY assistant_id NULLS FIRST, calls DESC, tool_type, function_name NULLS FIRST;
