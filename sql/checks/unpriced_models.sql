-- Every run's model has a price at the run's date in model_prices (else its cost is unknown: give runsteps prices a --prices or --model-map file).
-- severity: warning
-- A missing price leaves costs unknown while the data itself is sound: reported, it fails no run or DagRun.
SELECT
    model,
    count(*) AS runs,
    min(created_at) AS first_run_at,
    max(created_at) AS last_run_at
FROM run_costs
WHERE NOT priced
GROUP BY model
ORDER BY runs DESC, model NULLS FIRST;
