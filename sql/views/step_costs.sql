-- Each run step's cost: its own token usage at its run's model's prices on the run's date (model_prices).
-- The same arithmetic as run_costs, so a completed run's steps add up to the run when every step sent usage.
-- A step whose run is not exported has no model: priced = false and NULL costs, as for an unpriced model.
SELECT
    s.step_id,
    s.run_id,
    s.thread_id,
    s.assistant_id,
    r.model,
    p.priced_as,
    s.type,
    s.status,
    s.created_at,
    r.created_at AS run_created_at,
    s.prompt_tokens,
    s.cached_prompt_tokens,
    s.completion_tokens,
    s.reasoning_tokens,
    s.total_tokens,
    (s.prompt_tokens - coalesce(s.cached_prompt_tokens, 0)) * p.input_usd_per_mtok / 1e6 AS input_usd,
    CASE WHEN s.prompt_tokens IS NOT NULL THEN
        coalesce(s.cached_prompt_tokens, 0) * coalesce(p.cached_input_usd_per_mtok, p.input_usd_per_mtok) / 1e6
    END AS cached_input_usd,
    s.completion_tokens * p.output_usd_per_mtok / 1e6 AS output_usd,
    input_usd + cached_input_usd + output_usd AS cost_usd,
    p.model IS NOT NULL AS priced
FROM run_steps AS s
LEFT JOIN runs AS r USING (run_id)
LEFT JOIN model_prices AS p
    ON p.model = r.model
   AND r.created_at >= p.valid_from
   AND (p.valid_to IS NULL OR r.created_at < p.valid_to)
