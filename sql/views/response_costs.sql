-- Each response's cost: its token usage at its model's prices on its date (model_prices), as run_costs prices runs.
-- Cached input tokens cost the cached price (the input price when the model has none), and not the input price as
-- well; reasoning tokens are part of output_tokens, at the output price. priced = false when model_prices has no
-- price for the model at created_at; cost_usd is then NULL, never 0. A response without usage yet has NULL costs.
SELECT
    r.response_id,
    r.conversation_id,
    r.agent,
    r.model,
    p.priced_as,
    r.status,
    r.created_at,
    r.input_tokens,
    r.cached_input_tokens,
    r.output_tokens,
    r.reasoning_tokens,
    r.total_tokens,
    (r.input_tokens - coalesce(r.cached_input_tokens, 0)) * p.input_usd_per_mtok / 1e6 AS input_usd,
    CASE WHEN r.input_tokens IS NOT NULL THEN
        coalesce(r.cached_input_tokens, 0) * coalesce(p.cached_input_usd_per_mtok, p.input_usd_per_mtok) / 1e6
    END AS cached_input_usd,
    r.output_tokens * p.output_usd_per_mtok / 1e6 AS output_usd,
    input_usd + cached_input_usd + output_usd AS cost_usd,
    p.model IS NOT NULL AS priced
FROM responses AS r
LEFT JOIN model_prices AS p
    ON p.model = r.model
   AND r.created_at >= p.valid_from
   AND (p.valid_to IS NULL OR r.created_at < p.valid_to)
