-- Tool calls per era and tool, one name per tool in both eras (function, file_search, code_interpreter, web_search...).
-- param: since = 1970-01-01
-- param: until = 9999-12-31
-- param: assistants = NULL
-- From era_tool_calls, which knows the UTC day of each call's run or response, not its time: a call counts when its
-- day is from the day of since up to, not including, the day of until. units: the runs or responses that called
-- the tool. assistants: comma-separated agent ids (assistant ids, or Foundry agent / prompt ids; NULL: every agent).
SELECT
    era,
    tool,
    count(*) AS calls,
    count(DISTINCT unit_id) AS units
FROM era_tool_calls
WHERE day >= CAST(CAST($since AS TIMESTAMPTZ) AS DATE)
  AND day < CAST(CAST($until AS TIMESTAMPTZ) AS DATE)
  AND (CAST($assistants AS VARCHAR) IS NULL OR list_contains(string_split(CAST($assistants AS VARCHAR), ','), agent))
GROUP BY era, tool
ORDER BY era, calls DESC, tool;
