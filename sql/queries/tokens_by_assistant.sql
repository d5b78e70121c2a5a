-- Tokens used per assistant over all exported run steps, most first.
-- Steps still in progress have no usage yet and add 0 tokens.
SELECT
    assistant_id,
    count(DISTINCT run_id) AS runs,
    count(*) AS steps,
    coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
    coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
    coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens
FROM run_steps
GROUP BY assistant_id
ORDER BY total_tokens DESC, assistant_id NULLS FIRST;
