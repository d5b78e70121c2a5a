-- A model over the generated sources: steps and tool calls per run.
select
    s.run_id,
    count(distinct s.step_id) as steps,
    count(t.step_id) as tool_calls
from {{ source('runsteps', 'run_steps') }} as s
left join {{ source('runsteps', 'tool_calls') }} as t on t.step_id = s.step_id
group by s.run_id
