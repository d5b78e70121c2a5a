-- Every table holds each key at most once.
-- Lists each key found more than once, with its number of copies.
SELECT 'runs' AS table_name, run_id AS key, count(*) AS copies
FROM runs GROUP BY run_id HAVING count(*) > 1
UNION ALL
SELECT 'run_steps', step_id, count(*)
FROM run_steps GROUP BY step_id HAVING count(*) > 1
UNION ALL
SELECT 'tool_calls', concat_ws('/', step_id, tool_call_index), count(*)
FROM tool_calls GROUP BY step_id, tool_call_index HAVING count(*) > 1
UNION ALL
SELECT 'code_interpreter_outputs', concat_ws('/', step_id, tool_call_index, output_index), count(*)
FROM code_interpreter_outputs GROUP BY step_id, tool_call_index, output_index HAVING count(*) > 1
UNION ALL
SELECT 'file_search_results', concat_ws('/', step_id, tool_call_index, result_index), count(*)
FROM file_search_results GROUP BY step_id, tool_call_index, result_index HAVING count(*) > 1
UNION ALL
SELECT 'responses', response_id, count(*)
FROM responses GROUP BY response_id HAVING count(*) > 1
UNION ALL
SELECT 'response_items', concat_ws('/', response_id, direction, item_index), count(*)
FROM response_items GROUP BY response_id, direction, item_index HAVING count(*) > 1
UNION ALL
SELECT 'conversations', conversation_id, count(*)
FROM conversations GROUP BY conversation_id HAVING count(*) > 1
UNION ALL
SELECT 'conversation_items', concat_ws('/', conversation_id, position), count(*)
FROM conversation_items GROUP BY conversation_id, position HAVING count(*) > 1
UNION ALL
SELECT 'threads', thread_id, count(*)
FROM threads GROUP BY thread_id HAVING count(*) > 1
UNION ALL
SELECT 'assistants', assistant_id, count(*)
FROM assistants GROUP BY assistant_id HAVING count(*) > 1
ORDER BY table_name, key;
