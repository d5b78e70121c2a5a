-- Per era, UTC day and agent (assistant, or Foundry agent / prompt): units (runs or responses), failures, tokens,
-- cost (NULL when none of them is priced; unpriced_units says how many were left out) and durations.
SELECT
    era,
    day,
    agent,
    count(*) AS units,
    count(*) FILTER (WHERE failed) AS failed,
    sum(input_tokens) AS input_tokens,
    sum(cached_input_tokens) AS cached_input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cost_usd) AS cost_usd,
    count(*) FILTER (WHERE NOT priced) AS unpriced_units,
    median(duration_s) AS median_duration_s,
    quantile_cont(duration_s, 0.95) AS p95_duration_s
FROM era_units
GROUP BY era, day, agent
