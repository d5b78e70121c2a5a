-- Files that file search retrieved most often: results, tool calls and runs, average and best score.
-- param: limit = 20
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Counts results of steps created in [since, until) (UTC); ties are broken by file_id.
-- assistants: comma-separated assistant ids (NULL: every assistant).
SELECT
    file_id,
    max(file_name) AS file_name,
    count(*) AS results,
    count(DISTINCT (step_id, tool_call_index)) AS tool_calls,
    count(DISTINCT run_id) AS runs,
    avg(score) AS avg_score,
    max(score) AS max_score
FROM file_search_results
WHERE created_at >= CAST($since AS TIMESTAMPTZ)
  AND created_at < CAST($until AS TIMESTAMPTZ)
  AND (
      CAST($assistants AS VARCHAR) IS NULL
      OR step_id IN (
          SELECT step_id FROM run_steps
          WHERE list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id)
      )
  )
GROUP BY file_id
ORDER BY results DESC, file_id
LIMIT CAST($limit AS INTEGER);
