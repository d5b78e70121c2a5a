-- Runs (Assistants) and responses (Responses API) per era and UTC day: units, failures, tokens and cost side by side.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- From era_units: units created in [since, until) (UTC). failed counts failed, cancelled, expired and incomplete
-- units; cost_usd sums the priced units' cost (NULL when none is), unpriced_units counts the units left out.
-- assistants: comma-separated agent ids (assistant ids, or Foundry agent / prompt ids; NULL: every agent).
SELECT
    era,
    day,
    count(*) AS units,
    count(*) FILTER (WHERE failed) AS failed,
    coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
    coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
    coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens,
    -- Summed as decimals, as the cost queries do: the same figure whatever order the rows come in.
    sum(cost_usd::DECIMAL(38, 12))::DOUBLE AS cost_usd,
    count(*) FILTER (WHERE NOT priced) AS unpriced_units
FROM era_units
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), agent))
GROUP BY era, day
ORDER BY day, era;
