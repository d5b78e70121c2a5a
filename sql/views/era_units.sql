-- Runs (Assistants) and responses (Responses API) side by side, one row each, era = 'assistants' or 'responses':
-- who answered (assistant_id, or the Foundry agent / prompt id), outcome, duration, tokens and cost (run_costs,
-- response_costs: the same model_prices). duration_s is created_at to completed_at (NULL until completed);
-- failed is true for failed, cancelled, expired and incomplete units.
WITH units AS (
    SELECT
        'assistants' AS era, c.run_id AS unit_id, c.thread_id AS owner_id, c.assistant_id AS agent, c.model,
        c.status, c.created_at, r.completed_at, r.last_error_code AS error_code,
        r.last_error_message AS error_message, c.prompt_tokens AS input_tokens,
        c.cached_prompt_tokens AS cached_input_tokens, c.completion_tokens AS output_tokens, c.reasoning_tokens,
        c.total_tokens, c.cost_usd, c.priced
    FROM run_costs AS c
    JOIN runs AS r USING (run_id)
    UNION ALL
    SELECT
        'responses', c.response_id, c.conversation_id, c.agent, c.model,
        c.status, c.created_at, r.completed_at, r.error_code,
        r.error_message, c.input_tokens,
        c.cached_input_tokens, c.output_tokens, c.reasoning_tokens,
        c.total_tokens, c.cost_usd, c.priced
    FROM response_costs AS c
    JOIN responses AS r USING (response_id)
)
SELECT
    era,
    unit_id,
    owner_id,
    agent,
    model,
    status,
    created_at,
    CAST(created_at AS DATE) AS day,
    completed_at,
    epoch(completed_at) - epoch(created_at) AS duration_s,
    status IN ('failed', 'cancelled', 'expired', 'incomplete') AS failed,
    error_code,
    error_message,
    input_tokens,
    cached_input_tokens,
    output_tokens,
    reasoning_tokens,
    total_tokens,
    cost_usd,
    priced
FROM units
