-- The headline figures of a period: runs, steps, threads, assistants, tokens, cost, failed and still active runs.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Runs are those created in [since, until) (UTC), steps and tokens those of steps created then. failed_runs:
-- status failed or expired; active_runs: queued, in_progress, requires_action or cancelling. The rates are
-- shares of runs (NULL without runs). cost_usd sums the priced runs' cost (run_costs; NULL when none is priced),
-- unpriced_runs counts the runs whose model has no price. assistants: comma-separated assistant ids (NULL: all).
WITH chosen_runs AS (
    SELECT status, cost_usd, priced
    FROM run_costs
    WHERE created_at >= CAST($since AS TIMESTAMPTZ)
      AND created_at < CAST($until AS TIMESTAMPTZ)
      AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
),
run_totals AS (
    SELECT
        count(*) AS runs,
        count(*) FILTER (WHERE status IN ('failed', 'expired')) AS failed_runs,
        count(*) FILTER (WHERE status IN ('queued', 'in_progress', 'requires_action', 'cancelling')) AS active_runs,
        -- Summed as decimals, as the cost queries do: the same figure whatever order the rows come in.
        sum(cost_usd::DECIMAL(38, 12))::DOUBLE AS cost_usd,
        count(*) FILTER (WHERE NOT priced) AS unpriced_runs
    FROM chosen_runs
),
step_totals AS (
    SELECT
        min(created_at) AS first_step_at,
        max(created_at) AS last_step_at,
        count(DISTINCT thread_id) AS threads,
        count(DISTINCT assistant_id) AS assistants,
        count(*) AS steps,
        coalesce(sum(tool_call_count), 0)::BIGINT AS tool_calls,
        coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
        coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
        coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens
    FROM run_steps
    WHERE created_at >= CAST($since AS TIMESTAMPTZ)
      AND created_at < CAST($until AS TIMESTAMPTZ)
      AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
)
SELECT
    s.first_step_at,
    s.last_step_at,
    r.runs,
    s.steps,
    s.threads,
    s.assistants,
    s.tool_calls,
    s.prompt_tokens,
    s.completion_tokens,
    s.total_tokens,
    r.cost_usd,
    r.unpriced_runs,
    r.failed_runs,
    r.active_runs,
    r.failed_runs / nullif(r.runs, 0) AS failure_rate,
    r.active_runs / nullif(r.runs, 0) AS active_share
FROM step_totals AS s, run_totals AS r;
