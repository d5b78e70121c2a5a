-- The threads that cost the most, in USD, with their runs, assistants and token usage.
-- param: limit = 20
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- From run_costs, runs created in [since, until) by the given assistants (comma-separated ids; NULL: all).
-- cost_usd sums the priced runs; unpriced_runs counts the others. Ties are broken by thread_id.
-- Costs are summed as decimals: the same figure whatever order the rows are added in.
SELECT
    thread_id,
    count(*) AS runs,
    count(*) FILTER (WHERE NOT priced) AS unpriced_runs,
    count(DISTINCT assistant_id) AS assistants,
    min(created_at) AS first_run_at,
    max(created_at) AS last_run_at,
    coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens,
    sum(cost_usd::DECIMAL(38, 12))::DOUBLE AS cost_usd
FROM run_costs
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL
       OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY thread_id
ORDER BY cost_usd DESC NULLS LAST, thread_id
LIMIT CAST($limit AS INTEGER);
