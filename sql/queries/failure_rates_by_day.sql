-- Failed and expired steps per UTC day and error code, as counts and as a share of that day's steps.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Days are those of the steps' created_at in [since, until) (UTC); error_code is NULL when the API gave none.
-- assistants: comma-separated assistant ids (NULL: every assistant).
WITH steps AS (
    SELECT (created_at AT TIME ZONE 'UTC')::DATE AS day, status, last_error_code
    FROM run_steps
    WHERE created_at >= CAST($since AS TIMESTAMPTZ)
      AND created_at < CAST($until AS TIMESTAMPTZ)
      AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
),
daily AS (
    SELECT day, count(*) AS day_steps FROM steps GROUP BY day
)
SELECT
    day,
    status,
    last_error_code AS error_code,
    count(*) AS steps,
    any_value(day_steps) AS day_steps,
    count(*) / any_value(day_steps) AS rate
FROM steps
JOIN daily USING (day)
WHERE status IN ('failed', 'expired')
GROUP BY day, status, last_error_code
ORDER BY day, status, error_code NULLS FIRST;
