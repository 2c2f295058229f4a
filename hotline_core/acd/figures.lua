-- The live figures' reading (实时监控数据) in one run: what ``DistributionView.figures``
-- needs, already counted, so the reader parses one short JSON text instead of a hash per
-- agent and per waiting call (before: one HGETALL each, parsed in Python on every event of
-- every socket). Reads only; assign.lua keeps every key it reads.
--
-- Names are written TABLE.name with the tables of hotline_core/acd/contract.py
-- (FIGURES_TABLES): ARGV slots FSLOT, agent fields AF, agent states AS, call fields CF,
-- call states CS.
-- ARGV: FSLOT.prefix key prefix (<ns>:acd).
-- Returns a JSON object:
--   by_state     {agent state: agents}                 (every agent that ever logged in)
--   by_group     {group: agents not logged out}
--   skill_agents {skill: {agent state: agents with the skill}}
--   line_wait    {line: [calls waiting, smallest enqueued-at as stored]}
--   skill_wait   {first skill: [calls waiting, smallest enqueued-at as stored]}
--   lines        {line: {counter: value}}   every figures line and every line waited on
--   skills       {skill: {counter: value}}  every figures skill, waited-on and agents' skill

local P = ARGV[FSLOT.prefix]

local function count(t, k) t[k] = (t[k] or 0) + 1 end

local by_state, by_group, skill_agents = {}, {}, {}
for _, id in ipairs(redis.call('SMEMBERS', P .. ':agents')) do
  local a = redis.call('HMGET', P .. ':a:' .. id, AF.state, AF.skills, AF.group)
  if a[1] then
    count(by_state, a[1])
    if a[1] ~= AS.logged_out then count(by_group, a[3] or '') end
    for skill in pairs(cjson.decode(a[2] or '{}')) do
      local t = skill_agents[skill]
      if not t then t = {}; skill_agents[skill] = t end
      count(t, a[1])
    end
  end
end

-- calls waiting per line and per first skill, and the earliest arrival of each
local function wait(t, name, at)
  local w = t[name]
  if not w then
    t[name] = { 1, at }
  else
    w[1] = w[1] + 1
    if tonumber(at) < tonumber(w[2]) then w[2] = at end
  end
end
local line_wait, skill_wait = {}, {}
for _, id in ipairs(redis.call('ZRANGE', P .. ':waiting', 0, -1)) do
  local c = redis.call('HMGET', P .. ':c:' .. id, CF.state, CF.line, CF.skills, CF.enqueued_at)
  if c[1] == CS.waiting then
    wait(line_wait, c[2], c[4])
    wait(skill_wait, cjson.decode(c[3])[1], c[4])
  end
end

local function counters(key)
  local out, flat = {}, redis.call('HGETALL', key)
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end
local function named(set, extra, extra2, key)
  local names = {}
  for _, n in ipairs(redis.call('SMEMBERS', set)) do names[n] = true end
  for n in pairs(extra) do names[n] = true end
  for n in pairs(extra2) do names[n] = true end
  local out = {}
  for n in pairs(names) do out[n] = counters(key .. n) end
  return out
end

return cjson.encode({
  by_state = by_state, by_group = by_group, skill_agents = skill_agents,
  line_wait = line_wait, skill_wait = skill_wait,
  lines = named(P .. ':flines', line_wait, {}, P .. ':fl:'),
  skills = named(P .. ':fskills', skill_wait, skill_agents, P .. ':fs:'),
})
