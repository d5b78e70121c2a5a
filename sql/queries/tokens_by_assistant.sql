-- Tokens used per assistant, most first: runs, steps, prompt, completion and total tokens.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Counts steps created in [since, until) (UTC). Steps still in progress have no usage yet and add 0 tokens.
-- assistants: comma-separated assistant ids (NULL: every assistant).
-- assistant_name is the assistants table's (NULL where the export holds no row for the assistant).
SELECT
    assistant_id,
    (SELECT max(a.name) FROM assistants AS a WHERE a.assistant_id = s.assistant_id) AS assistant_name,
    count(DISTINCT run_id) AS runs,
    count(*) AS steps,
    coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
    coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
    coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens
FROM run_steps AS s
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
GROUP BY assistant_id
ORDER BY total_tokens DESC, assistant_id NULLS FIRST;
