-- Every agent's hash (坐席状态) in one run, as one JSON text: the reader parses one string
-- instead of a reply of two strings per field per agent (before: one HGETALL per agent,
-- each reply parsed field by field in Python; /api/agents with 200 agents took ~20 ms of
-- the core's time for it). Reads only; assign.lua keeps every key it reads.
--
-- Names are written TABLE.name with the tables of hotline_core/acd/contract.py
-- (FIGURES_TABLES): ARGV slot FSLOT.prefix, the key prefix (<ns>:acd).
-- Returns a JSON list of [agent id, {field: value}] for every agent that ever logged in and
-- still has a hash, in no particular order (cjson writes an empty list as {}).

local P = ARGV[FSLOT.prefix]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. ':agents')) do
  local flat = redis.call('HGETALL', P .. ':a:' .. id)
  if #flat > 0 then
    local h = {}
    for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
    out[#out + 1] = { id, h }
  end
end
return cjson.encode(out)
