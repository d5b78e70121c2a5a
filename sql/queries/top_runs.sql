-- Runs with the most steps, tokens or cost (by = steps, tokens or cost), with their assistant, status, usage and cost.
-- param: by = steps
-- param: limit = 20
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Tokens are summed over the run's steps. A run counts when its first step was created in [since, until) (UTC);
-- run_status is NULL when the export holds no runs row for it. cost_usd is the run's (run_costs: its usage at
-- its model's prices), NULL when unpriced or without a runs row. Ties are broken by run_id.
-- assistants: comma-separated assistant ids (NULL: every assistant).
WITH per_run AS (
    SELECT
        run_id,
        any_value(thread_id) AS thread_id,
        any_value(assistant_id) AS assistant_id,
        min(created_at) AS first_step_at,
        count(*) AS steps,
        coalesce(sum(tool_call_count), 0)::BIGINT AS tool_calls,
        coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
        coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
        coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens
    FROM run_steps
    WHERE CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id)
    GROUP BY run_id
    HAVING min(created_at) >= CAST($since AS TIMESTAMPTZ)
       AND min(created_at) < CAST($until AS TIMESTAMPTZ)
)
SELECT
    p.run_id,
    p.thread_id,
    coalesce(r.assistant_id, p.assistant_id) AS assistant_id,
    r.status AS run_status,
    p.first_step_at,
    p.steps,
    p.tool_calls,
    p.prompt_tokens,
    p.completion_tokens,
    p.total_tokens,
    c.cost_usd
FROM per_run AS p
LEFT JOIN runs AS r USING (run_id)
LEFT JOIN run_costs AS c USING (run_id)
ORDER BY
    CASE $by
        WHEN 'steps' THEN p.steps
        WHEN 'tokens' THEN p.total_tokens
        WHEN 'cost' THEN c.cost_usd
        ELSE error('parameter by must be steps, tokens or cost')
    END DESC NULLS LAST,
    p.run_id
LIMIT CAST($limit AS INTEGER);
