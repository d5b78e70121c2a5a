-- Completed steps have a completed_at, and it is not before their created_at.
SELECT step_id, run_id, created_at, completed_at
FROM run_steps
WHERE status = 'completed'
  AND (completed_at IS NULL OR completed_at < created_at)
ORDER BY step_id;
