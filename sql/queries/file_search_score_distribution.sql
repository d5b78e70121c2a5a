-- File search result scores in equal-width buckets over [0, 1]: results per bucket and their share.
-- param: buckets = 10
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- Every bucket is listed, empty ones too; a score of exactly 1 falls in the last bucket. Results without a score
-- are left out. Counts results of steps created in [since, until) (UTC).
-- assistants: comma-separated assistant ids (NULL: every assistant).
WITH params AS (
    SELECT CAST($buckets AS INTEGER) AS n
),
scored AS (
    SELECT greatest(least(floor(r.score * p.n), p.n - 1), 0)::INTEGER AS bucket
    FROM file_search_results AS r, params AS p
    WHERE r.score IS NOT NULL
      AND r.created_at >= CAST($since AS TIMESTAMPTZ)
      AND r.created_at < CAST($until AS TIMESTAMPTZ)
      AND (
          CAST($assistants AS VARCHAR) IS NULL
          OR r.step_id IN (
              SELECT step_id FROM run_steps
              WHERE list_contains(string_split(CAST($assistants AS VARCHAR), ','), assistant_id)
          )
      )
),
all_buckets AS (
    SELECT b.range::INTEGER AS bucket, p.n FROM params AS p, range(p.n) AS b
)
SELECT
    a.bucket,
    a.bucket / a.n AS score_from,
    (a.bucket + 1) / a.n AS score_to,
    count(s.bucket) AS results,
    coalesce(count(s.bucket) / nullif(sum(count(s.bucket)) OVER (), 0), 0) AS share
FROM all_buckets AS a
LEFT JOIN scored AS s USING (bucket)
GROUP BY a.bucket, a.n
ORDER BY a.bucket;
