-- Each run's cost: its token usage at its model's prices on the run's date (model_prices). NULL cost when unpriced.
-- Cached prompt tokens cost the cached price (the input price when the model has none), and not the input price
-- as well; reasoning tokens are part of completion_tokens, at the output price. priced = false when model_prices
-- has no price for the run's model at its created_at; cost_usd is then NULL, never 0. A run without usage yet
-- (not terminal) has NULL costs too.
SELECT
    r.run_id,
    r.thread_id,
    r.assistant_id,
    r.model,
    p.priced_as,
    r.status,
    r.created_at,
    r.prompt_tokens,
    r.cached_prompt_tokens,
    r.completion_tokens,
    r.reasoning_tokens,
    r.total_tokens,
    (r.prompt_tokens - coalesce(r.cached_prompt_tokens, 0)) * p.input_usd_per_mtok / 1e6 AS input_usd,
    CASE WHEN r.prompt_tokens IS NOT NULL THEN
        coalesce(r.cached_prompt_tokens, 0) * coalesce(p.cached_input_usd_per_mtok, p.input_usd_per_mtok) / 1e6
    END AS cached_input_usd,
    r.completion_tokens * p.output_usd_per_mtok / 1e6 AS output_usd,
    input_usd + cached_input_usd + output_usd AS cost_usd,
    p.model IS NOT NULL AS priced
FROM runs AS r
LEFT JOIN model_prices AS p
    ON p.model = r.model
   AND r.created_at >= p.valid_from
   AND (p.valid_to IS NULL OR r.created_at < p.valid_to)
