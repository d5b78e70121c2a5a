"""The API's JSON objects described as Arrow types, so a parsed page converts to Arrow in one C++ pass.

``pa.array(steps, type=STEP)`` reads every field named here and ignores the rest: a key the object lacks
becomes NULL, a key the API added later is skipped (and reported as drift by the transform), and a value of
the wrong JSON type makes the conversion fail (``etl.transform.convert`` then names the field).
The shapes are those of the API reference's run and run step objects (see the README's Tables section).
"""

from __future__ import annotations

import pyarrow as pa

from etl.providers import FOUNDRY_MAP_TOOL_TYPES, KNOWN_STEP_TYPES, KNOWN_TOOL_CALL_TYPES
from etl.schema import TIMESTAMP

_S = pa.string()
_I = pa.int64()
_F = pa.float64()


def _struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct(list(fields.items()))


LAST_ERROR = _struct(code=_S, message=_S)
_CACHED = _struct(cached_tokens=_I)
USAGE = _struct(
    prompt_tokens=_I,
    completion_tokens=_I,
    total_tokens=_I,
    prompt_token_details=_CACHED,  # as real payloads spell it
    prompt_tokens_details=_CACHED,  # as the Chat Completions API spells it
    completion_tokens_details=_struct(reasoning_tokens=_I),
)

CODE_OUTPUT = _struct(type=_S, logs=_S, image=_struct(file_id=_S))
CONTENT_PART = _struct(type=_S, text=_S)
FILE_SEARCH_RESULT = _struct(file_id=_S, file_name=_S, score=_F, content=pa.list_(CONTENT_PART))
FUNCTION = _struct(name=_S, arguments=_S, output=_S)
CODE_INTERPRETER = _struct(input=_S, outputs=pa.list_(CODE_OUTPUT))
FILE_SEARCH = _struct(
    ranking_options=_struct(ranker=_S, score_threshold=_F),
    results=pa.list_(FILE_SEARCH_RESULT),
)
# Foundry's typed tools (etl.providers): azure_function is shaped like function; mcp keeps its fields at the top.
CONNECTED_AGENT = _struct(name=_S, arguments=_S, output=_S, run_id=_S, thread_id=_S, assistant_id=_S)
INPUT_OUTPUT = _struct(input=_S, output=_S)  # deep_research, browser_automation
TOOL_CALL = _struct(
    id=_S,
    type=_S,
    function=FUNCTION,
    code_interpreter=CODE_INTERPRETER,
    file_search=FILE_SEARCH,
    azure_function=FUNCTION,
    connected_agent=CONNECTED_AGENT,
    deep_research=INPUT_OUTPUT,
    browser_automation=INPUT_OUTPUT,
    name=_S,
    arguments=_S,
    output=_S,
    server_label=_S,
)
STEP_DETAILS = _struct(message_creation=_struct(message_id=_S), tool_calls=pa.list_(TOOL_CALL))

STEP = _struct(
    id=_S,
    run_id=_S,
    thread_id=_S,
    assistant_id=_S,
    type=_S,
    status=_S,
    created_at=TIMESTAMP,
    completed_at=TIMESTAMP,
    failed_at=TIMESTAMP,
    cancelled_at=TIMESTAMP,
    expired_at=TIMESTAMP,
    expires_at=TIMESTAMP,  # what real payloads send instead of expired_at
    last_error=LAST_ERROR,
    step_details=STEP_DETAILS,
    usage=USAGE,
)

RUN = _struct(
    id=_S,
    thread_id=_S,
    assistant_id=_S,
    status=_S,
    model=_S,
    created_at=TIMESTAMP,
    started_at=TIMESTAMP,
    completed_at=TIMESTAMP,
    failed_at=TIMESTAMP,
    cancelled_at=TIMESTAMP,
    expires_at=TIMESTAMP,
    last_error=LAST_ERROR,
    incomplete_details=_struct(reason=_S),
    usage=USAGE,
    temperature=_F,
    top_p=_F,
    max_prompt_tokens=_I,
    max_completion_tokens=_I,
    instructions=_S,
)

# Known to any provider (etl.providers): anything else is kept in raw_json and counted as schema drift.
STEP_TYPES = KNOWN_STEP_TYPES
TOOL_CALL_TYPES = KNOWN_TOOL_CALL_TYPES
CODE_OUTPUT_TYPES = frozenset({"logs", "image"})
# Tool calls whose payload (under the key named like the type) is stored whole as JSON text in details_json.
DETAILS_JSON_TOOL_TYPES = FOUNDRY_MAP_TOOL_TYPES | {"browser_automation", "computer_use_preview"}
DETAILS_JSON_STEP_TYPES = frozenset({"activities"})  # step_details.<type> stored in run_steps.details_json

# Keys an object may carry without being drift: the ones read above, plus those deliberately not stored.
STEP_KEYS = frozenset(STEP.names) | {"object", "metadata"}
TOOL_CALL_KEYS = frozenset(TOOL_CALL.names) | DETAILS_JSON_TOOL_TYPES
FUNCTION_KEYS = frozenset(FUNCTION.names)
