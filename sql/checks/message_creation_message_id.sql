-- Every message_creation step names the message it created (message_id).
SELECT step_id, run_id, status, message_id
FROM run_steps
WHERE type = 'message_creation'
  AND (message_id IS NULL OR message_id = '')
ORDER BY step_id;
