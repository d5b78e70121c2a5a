-- Threads with the most steps or tokens (by = steps or tokens): runs, assistants, tool calls, tokens, first and last step.
-- param: by = steps
-- param: limit = 20
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Counts the thread's steps created in [since, until) (UTC). Ties are broken by thread_id.
-- assistants: comma-separated assistant ids (NULL: every assistant).
SELECT
    thread_id,
    count(DISTINCT run_id) AS runs,
    count(DISTINCT assistant_id) AS assistants,
    min(created_at) AS first_step_at,
    max(created_at) AS last_step_at,
    count(*) AS steps,
    coalesce(sum(tool_call_count), 0)::BIGINT AS tool_calls,
    coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
    coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
    coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens
FROM run_steps
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY thread_id
ORDER BY
    CASE $by
        WHEN 'steps' THEN count(*)
        WHEN 'tokens' THEN coalesce(sum(total_tokens), 0)
        ELSE error('parameter by must be steps or tokens')
    END DESC,
    thread_id
LIMIT CAST($limit AS INTEGER);
