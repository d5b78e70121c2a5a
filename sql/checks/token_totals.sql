-- total_tokens equals prompt_tokens + completion_tokens, for runs and for steps (all NULL is fine: no usage yet).
SELECT 'runs' AS table_name, run_id AS key, prompt_tokens, completion_tokens, total_tokens
FROM runs
WHERE total_tokens IS DISTINCT FROM prompt_tokens + completion_tokens
UNION ALL
SELECT 'run_steps', step_id, prompt_tokens, completion_tokens, total_tokens
FROM run_steps
WHERE total_tokens IS DISTINCT FROM prompt_tokens + completion_tokens
ORDER BY table_name, key;
