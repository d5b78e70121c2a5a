-- Completed step durations (completed_at - created_at) in buckets from under 1 s to 10 min +, by step and tool type.
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Steps are grouped as in step_duration_percentiles (the step_durations view: a tool_calls step once under each
-- tool type it used); every bucket of a group is listed, empty ones too. seconds_to is exclusive and NULL for the
-- last bucket; the first also holds durations below 0 (the completed_step_times check reports those). Counts
-- steps created in [since, until) (UTC). assistants: comma-separated assistant ids (NULL: every assistant).
WITH edges(bucket, label, seconds_from, seconds_to) AS (
    VALUES
        (0, '< 1 s', NULL, 1),
        (1, '1-2 s', 1, 2),
        (2, '2-5 s', 2, 5),
        (3, '5-10 s', 5, 10),
        (4, '10-30 s', 10, 30),
        (5, '30-60 s', 30, 60),
        (6, '1-2 min', 60, 120),
        (7, '2-5 min', 120, 300),
        (8, '5-10 min', 300, 600),
        (9, '10 min +', 600, NULL)
),
grouped AS (
    SELECT step_type, tool_type, seconds
    FROM step_durations
    WHERE created_at >= CAST($since AS TIMESTAMPTZ)
      AND created_at < CAST($until AS TIMESTAMPTZ)
      AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id))
),
counted AS (
    SELECT g.step_type, g.tool_type, e.bucket, count(*) AS steps
    FROM grouped AS g
    JOIN edges AS e
      ON (e.seconds_from IS NULL OR g.seconds >= e.seconds_from)
     AND (e.seconds_to IS NULL OR g.seconds < e.seconds_to)
    GROUP BY g.step_type, g.tool_type, e.bucket
)
SELECT
    k.step_type,
    k.tool_type,
    e.bucket,
    e.label,
    e.seconds_from,
    e.seconds_to,
    coalesce(c.steps, 0) AS steps
FROM (SELECT DISTINCT step_type, tool_type FROM grouped) AS k
CROSS JOIN edges AS e
LEFT JOIN counted AS c
  ON c.step_type = k.step_type
 AND c.tool_type IS NOT DISTINCT FROM k.tool_type
 AND c.bucket = e.bucket
ORDER BY k.step_type, k.tool_type NULLS FIRST, e.bucket;
