-- Cost in USD per assistant and UTC day (of the runs' created_at), at each run's model's prices on its date.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- From run_costs. cost_usd sums the priced runs only: unpriced_runs counts those left out (their model has no
-- price: see runsteps prices), so a day with unpriced runs cost more than it shows. Runs in [since, until);
-- assistants: comma-separated assistant ids (NULL: every assistant). assistant_name is the assistants table's
-- (NULL where the export holds no row for the assistant).
-- Costs are summed as decimals: the same figure whatever order the rows are added in.
SELECT
    c.assistant_id,
    any_value(a.name) AS assistant_name,
    (c.created_at AT TIME ZONE 'UTC')::DATE AS day,
    count(*) AS runs,
    count(*) FILTER (WHERE NOT priced) AS unpriced_runs,
    coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
    coalesce(sum(cached_prompt_tokens), 0)::BIGINT AS cached_prompt_tokens,
    coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
    coalesce(sum(reasoning_tokens), 0)::BIGINT AS reasoning_tokens,
    sum(cost_usd::DECIMAL(38, 12))::DOUBLE AS cost_usd
FROM run_costs AS c
LEFT JOIN assistants AS a USING (assistant_id)
WHERE c.created_at >= CAST($since AS TIMESTAMPTZ)
  AND c.created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL
       OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), c.assistant_id))
GROUP BY c.assistant_id, day
ORDER BY day, c.assistant_id NULLS FIRST;
