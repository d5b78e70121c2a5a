-- Cost in USD per model (as runs name it, and the model it is priced as), most expensive first.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- From run_costs, runs created in [since, until) by the given assistants (comma-separated ids; NULL: all).
-- A model with no price shows NULL costs and its runs as unpriced_runs (never a cost of 0).
-- Costs are summed as decimals: the same figure whatever order the rows are added in.
SELECT
    model,
    any_value(priced_as) AS priced_as,
    count(*) AS runs,
    count(*) FILTER (WHERE NOT priced) AS unpriced_runs,
    coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
    coalesce(sum(cached_prompt_tokens), 0)::BIGINT AS cached_prompt_tokens,
    coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
    coalesce(sum(reasoning_tokens), 0)::BIGINT AS reasoning_tokens,
    sum(input_usd::DECIMAL(38, 12))::DOUBLE AS input_usd,
    sum(cached_input_usd::DECIMAL(38, 12))::DOUBLE AS cached_input_usd,
    sum(output_usd::DECIMAL(38, 12))::DOUBLE AS output_usd,
    sum(cost_usd::DECIMAL(38, 12))::DOUBLE AS cost_usd
FROM run_costs
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL
       OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY model
ORDER BY cost_usd DESC NULLS LAST, model NULLS FIRST;
