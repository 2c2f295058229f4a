-- Call distribution (ACD) state machine: every change of agent or call state runs here,
-- atomically, so several core processes sharing one Redis never give a call to two agents
-- nor two calls to one agent. Invariant kept after every run: no READY agent could take a
-- waiting call (otherwise it would have been assigned).
--
-- Every name shared with Python is written TABLE.name, with the tables of
-- hotline_core/acd/contract.py (LUA_TABLES): ARGV slots SLOT, operations OP and their
-- arguments ARG, hash fields AF/CF/FF, states AS/CS, callback flag CB, settings S,
-- strategies STRAT, error codes ERR, result R/M, event EV. contract.script_source resolves
-- each to its value when the script is loaded (no lookup at run time; an undefined name
-- refuses to load); the field strings are the storage format. Write `AF.state`, never 'st'.
--
-- ARGV: SLOT.prefix key prefix (<ns>:acd), SLOT.channel events channel, SLOT.op operation,
--       SLOT.now now (seconds, float), SLOT.settings settings JSON object (S),
--       from SLOT.args on the operation's arguments as ARG name, value pairs (strings).
-- Returns a JSON object: R.matches list of matches (M: call, agent, line, caller,
--       department, callback, priority), R.error error code (ERR) or nil, R.warning
--       stale-event note or nil.
--
-- Keys (all under the prefix; a single Redis, not Redis Cluster):
--   :agents            set of agent ids ever logged in
--   :a:<agent>         hash, fields AF (state, group, pause reason, pending pause, since,
--                      idle since, calls taken, call, skills JSON skill->level, ready
--                      member "" when not ready, connect failed call)
--   :r:<skill>         zset READY agents; member "<idle %020.6f>|<agent>", score by strategy
--                      (0 longest idle: member order = idle order; calls taken; level,
--                      1 = best, as in config/agents.toml)
--   :calls             set of every call held (waiting, ringing, talking)
--   :c:<call>          hash, fields CF (line, skills JSON list, caller, priority,
--                      effective priority, enqueued at, department, order = place in line,
--                      fallback = overflow skill once overflowed, callback, state CS, agent,
--                      rang at, answered at)
--   :w:<skill>:<prio>  zset waiting calls of that skill queue and priority, score ord
--   :wl:<skill>        zset priorities present in that skill queue
--   :wp:<skill>:<prio> zset waiting calls whose FIRST skill is <skill> (never an overflow),
--                      by effective priority, score ord: the caller's place in line is a
--                      rank here (place.lua), never a scan of the line
--   :wpl:<skill>       zset priorities present among those
--   :sv:<skill>        set of agents with the skill that serve (neither logged out nor
--                      paused): the estimated wait's divisor
--   :li:<skill>        set of agents with the skill logged in (paused too): is anyone there
--                      to take a call of the line, or does it go to a voice message
--                      (both kept by sync_serving for every agent whose state a run changed,
--                      every agent on rematch; AF.serving_skills: the skills they count in)
--   :waiting           zset all waiting calls by enqueue time
--   :starve :ovf       zsets waiting calls by starvation / overflow due time
--   :wrap              zset agents in wrap-up by wrap-up end
--   :ring              zset ringing calls by stuck-ring deadline
--   :flines :fskills   sets of names having figures
--   :fl:<line> :fs:<skill>  hash figures, fields FF
--   :ht:<skill>        list recent talk seconds (estimated wait)
--
-- Time: every run first applies what fell due by `now` (starvation bound, then wrap-up
-- ends, overflows and stuck rings in the order they fell due). With C[S.hold] the
-- run changes state but assigns nothing (reconciliation); `rematch` assigns afterwards.

local P = ARGV[SLOT.prefix]
local CHANNEL = ARGV[SLOT.channel]
local op = ARGV[SLOT.op]
local now = tonumber(ARGV[SLOT.now])
local C = cjson.decode(ARGV[SLOT.settings])  -- keyed by S
local A = {}  -- the operation's arguments by ARG name: ARGV holds name, value, name, value …
for i = SLOT.args, #ARGV, 2 do A[ARGV[i]] = ARGV[i + 1] end
local out = {}
local changed = false
local warn = nil

local function f(t) return string.format('%.6f', t) end
local function akey(id) return P .. ':a:' .. id end
local function ckey(id) return P .. ':c:' .. id end
local function rkey(s) return P .. ':r:' .. s end
local function wkey(s, lv) return P .. ':w:' .. s .. ':' .. lv end
local function lkey(s) return P .. ':wl:' .. s end
local WAITING = P .. ':waiting'
local STARVE = P .. ':starve'
local OVF = P .. ':ovf'
local WRAP = P .. ':wrap'
local RING = P .. ':ring'
local function pkey(s, lv) return P .. ':wp:' .. s .. ':' .. lv end
local function plkey(s) return P .. ':wpl:' .. s end
local function svkey(s) return P .. ':sv:' .. s end
local function likey(s) return P .. ':li:' .. s end
local touched = {}  -- agent hash keys whose state this run set (sync_serving at the end)

-- every change of an agent's state goes through here (the serving sets follow it)
local function set_agent(a, ...)
  redis.call('HSET', a, ...)
  touched[a] = true
end

-- put agent hash key a into the logged-in and serving sets of each of its skills, or out
local function sync_serving(a)
  local st, sk, was = unpack(redis.call('HMGET', a, AF.state, AF.skills, AF.serving_skills))
  local id = string.sub(a, #P + 4)
  if was and was ~= '' then
    for s, _ in pairs(cjson.decode(was)) do
      redis.call('SREM', svkey(s), id)
      redis.call('SREM', likey(s), id)
    end
  end
  local keep = ''
  if st and st ~= AS.logged_out and sk then
    keep = sk
    for s, _ in pairs(cjson.decode(sk)) do
      redis.call('SADD', likey(s), id)
      if st ~= AS.paused then redis.call('SADD', svkey(s), id) end
    end
  end
  redis.call('HSET', a, AF.serving_skills, keep)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- a call's hash (keyed by CF) with its id; skills and numbers decoded
local function load_call(cid)
  local c = hgetall(ckey(cid))
  if not c then return nil end
  c.id = cid
  c[CF.skills] = cjson.decode(c[CF.skills])
  c[CF.effective_priority] = tonumber(c[CF.effective_priority])
  c[CF.enqueued_at] = tonumber(c[CF.enqueued_at])
  c[CF.order] = tonumber(c[CF.order])
  return c
end

-- ---------------------------------------------------------------- agents ready sets

local function strategy(s) return C[S.strategy][s] or C[S.default_strategy] end

-- score in a ready set by the skill queue's strategy (lowest first)
local function ready_score(s, level, calls)
  local st = strategy(s)
  if st == STRAT.longest_idle then return 0 end  -- the member order, idle since, decides
  if st == STRAT.fewest_calls then return calls end
  if st == STRAT.skill_level then return level end  -- level 1 is the best
  return 0  -- no other strategy passes the configuration's check
end

local function make_ready(id, idle, since)
  local a = akey(id)
  local sk = cjson.decode(redis.call('HGET', a, AF.skills))
  local calls = tonumber(redis.call('HGET', a, AF.calls_taken) or '0')
  local m = string.format('%020.6f', idle) .. '|' .. id
  set_agent(a, AF.state, AS.ready, AF.idle_since, f(idle), AF.since, f(since),
    AF.ready_member, m,
    AF.call, '', AF.pause_reason, '', AF.connect_failed, '')
  for s, level in pairs(sk) do
    redis.call('ZADD', rkey(s), ready_score(s, level, calls), m)
  end
  changed = true
end

local function unready(id)
  local a = akey(id)
  local m = redis.call('HGET', a, AF.ready_member)
  if m and m ~= '' then
    local sk = cjson.decode(redis.call('HGET', a, AF.skills))
    for s, _ in pairs(sk) do redis.call('ZREM', rkey(s), m) end
    redis.call('HSET', a, AF.ready_member, '')
  end
end

-- ---------------------------------------------------------------- waiting line index

local function call_queues(c)
  local qs = { c[CF.skills][1] }
  if c[CF.fallback] and c[CF.fallback] ~= '' then table.insert(qs, c[CF.fallback]) end
  return qs
end

local function index_call(c)
  for _, s in ipairs(call_queues(c)) do
    redis.call('ZADD', wkey(s, c[CF.effective_priority]), f(c[CF.order]), c.id)
    redis.call('ZADD', lkey(s), c[CF.effective_priority], c[CF.effective_priority])
  end
  local first = c[CF.skills][1]
  redis.call('ZADD', pkey(first, c[CF.effective_priority]), f(c[CF.order]), c.id)
  redis.call('ZADD', plkey(first), c[CF.effective_priority], c[CF.effective_priority])
end

local function unindex_call(c)
  for _, s in ipairs(call_queues(c)) do
    local w = wkey(s, c[CF.effective_priority])
    redis.call('ZREM', w, c.id)
    if redis.call('ZCARD', w) == 0 then redis.call('ZREM', lkey(s), c[CF.effective_priority]) end
  end
  local first = c[CF.skills][1]
  local w = pkey(first, c[CF.effective_priority])
  redis.call('ZREM', w, c.id)
  if redis.call('ZCARD', w) == 0 then redis.call('ZREM', plkey(first), c[CF.effective_priority]) end
end

local function forget_waiting(c)
  unindex_call(c)
  redis.call('ZREM', WAITING, c.id)
  redis.call('ZREM', STARVE, c.id)
  redis.call('ZREM', OVF, c.id)
end

-- ---------------------------------------------------------------- figures

local function bump(c, field, by)
  redis.call('SADD', P .. ':flines', c[CF.line])
  redis.call('SADD', P .. ':fskills', c[CF.skills][1])
  redis.call('HINCRBYFLOAT', P .. ':fl:' .. c[CF.line], field, f(by))
  redis.call('HINCRBYFLOAT', P .. ':fs:' .. c[CF.skills][1], field, f(by))
end

local function count_abandon(c)
  bump(c, FF.abandoned, 1)
  if now - c[CF.enqueued_at] > C[S.service_level_seconds] then bump(c, FF.abandoned_after_target, 1) end
  changed = true
end

-- ---------------------------------------------------------------- matching

local function assign(c, id)
  forget_waiting(c)
  unready(id)
  set_agent(akey(id), AF.state, AS.ringing, AF.since, f(now), AF.call, c.id)
  redis.call('HSET', ckey(c.id), CF.state, CS.ringing, CF.agent, id, CF.rang_at, f(now))
  if C[S.ring_deadline_seconds] > 0 then
    redis.call('ZADD', RING, f(now + C[S.ring_deadline_seconds]), c.id)
  end
  table.insert(out, {
    [M.call] = c.id, [M.agent] = id, [M.line] = c[CF.line], [M.caller] = c[CF.caller],
    [M.department] = c[CF.department], [M.callback] = c[CF.callback] == CB.set,
    [M.priority] = tonumber(c[CF.priority]),
  })
  changed = true
end

-- first READY agent of skill queue s (in its strategy's order) that has every skill in need
local function pick_agent(s, need)
  local start, batch = 0, 1  -- the head almost always qualifies: look at it alone first
  while true do
    local ms = redis.call('ZRANGE', rkey(s), start, start + batch - 1)
    if #ms == 0 then return nil end
    for _, m in ipairs(ms) do
      local ok = true
      for i = 1, #need do
        if need[i] ~= s and not redis.call('ZSCORE', rkey(need[i]), m) then
          ok = false
          break
        end
      end
      if ok then return string.sub(m, 22) end
    end
    start = start + batch
    batch = 32
  end
end

-- call side: a call became assignable (new, back at the head, overflowed)
local function match_call(c)
  if C[S.hold] then return nil end
  local id = pick_agent(c[CF.skills][1], c[CF.skills])
  if not id and c[CF.fallback] and c[CF.fallback] ~= '' then id = pick_agent(c[CF.fallback], { c[CF.fallback] }) end
  if id then assign(c, id) end
  return id
end

-- agent side: agent id just became READY; it takes the best call it can serve:
-- highest priority, then the skill it is best at (the lowest level number: 1 = best), then
-- first come first served.
local function match_agent(id)
  if C[S.hold] then return nil end
  local a = akey(id)
  local sk = cjson.decode(redis.call('HGET', a, AF.skills))
  local best, bep, blevel, bord = nil, nil, nil, nil
  for s, level in pairs(sk) do
    local levels = redis.call('ZREVRANGE', lkey(s), 0, -1)
    for _, lv in ipairs(levels) do
      local ep = tonumber(lv)
      if best and (ep < bep or (ep == bep and level > blevel)) then break end
      local w = wkey(s, lv)
      local start, batch, found, ford = 0, 1, nil, nil
      while not found do
        local ms = redis.call('ZRANGE', w, start, start + batch - 1, 'WITHSCORES')
        if #ms == 0 then break end
        for i = 1, #ms, 2 do
          local cid = ms[i]
          local fields = redis.call('HMGET', ckey(cid), CF.skills, CF.fallback)
          local ok = fields[2] == s
          if not ok then
            ok = true
            for _, need in ipairs(cjson.decode(fields[1])) do
              if not sk[need] then ok = false break end
            end
          end
          if ok then found, ford = cid, tonumber(ms[i + 1]) break end
        end
        start = start + batch
        batch = 32
      end
      if found then
        if not best or ep > bep or (ep == bep and (level < blevel
            or (level == blevel and ford < bord))) then
          best, bep, blevel, bord = found, ep, level, ford
        end
        break
      end
    end
  end
  if best then assign(load_call(best), id) end
  return best
end

-- ---------------------------------------------------------------- time

-- put a waiting call into the line; head=true puts it before every call of its priority
local function line_up(c, head)
  c[CF.state] = CS.waiting
  redis.call('ZREM', RING, c.id)
  -- a bound or an overflow that fell due while the call rang applies at once
  if C[S.starvation_seconds] > 0 and c[CF.effective_priority] < C[S.starved_priority]
      and c[CF.enqueued_at] + C[S.starvation_seconds] <= now then
    c[CF.effective_priority] = C[S.starved_priority]
    redis.call('HSET', ckey(c.id), CF.effective_priority, c[CF.effective_priority])
  end
  local rule = C[S.overflow][c[CF.skills][1]]
  if rule and (not c[CF.fallback] or c[CF.fallback] == '') and c[CF.enqueued_at] + rule[1] <= now then
    c[CF.fallback] = rule[2]
    redis.call('HSET', ckey(c.id), CF.fallback, c[CF.fallback])
  end
  if head then
    local first = c[CF.order]
    for _, s in ipairs(call_queues(c)) do
      local h = redis.call('ZRANGE', wkey(s, c[CF.effective_priority]), 0, 0, 'WITHSCORES')
      if #h > 0 and tonumber(h[2]) < first then first = tonumber(h[2]) end
    end
    c[CF.order] = first - 0.001
  end
  redis.call('HSET', ckey(c.id), CF.state, CS.waiting, CF.agent, '', CF.order, f(c[CF.order]))
  redis.call('ZADD', WAITING, f(c[CF.enqueued_at]), c.id)
  if C[S.starvation_seconds] > 0 and c[CF.effective_priority] < C[S.starved_priority] then
    redis.call('ZADD', STARVE, f(c[CF.enqueued_at] + C[S.starvation_seconds]), c.id)
  end
  if rule and (not c[CF.fallback] or c[CF.fallback] == '') then
    redis.call('ZADD', OVF, f(c[CF.enqueued_at] + rule[1]), c.id)
  end
  index_call(c)
  changed = true
end

-- the agent ringing for call c no longer rings: back to the head of the line, next agent
local function requeue(c)
  line_up(c, true)
  match_call(c)
end


local function wrap_done(id, t)
  redis.call('ZREM', WRAP, id)
  local a = akey(id)
  if redis.call('HGET', a, AF.state) ~= AS.wrap_up then return end
  local pend = redis.call('HGET', a, AF.pending_pause) or ''
  if pend ~= '' then
    set_agent(a, AF.state, AS.paused, AF.pause_reason, pend, AF.pending_pause, '',
      AF.since, f(t), AF.call, '')
    changed = true
  else
    make_ready(id, t, t)
    match_agent(id)
  end
end

local function overflow_due(cid)
  redis.call('ZREM', OVF, cid)
  local c = load_call(cid)
  if not c or c[CF.state] ~= CS.waiting or (c[CF.fallback] and c[CF.fallback] ~= '') then return end
  local rule = C[S.overflow][c[CF.skills][1]]
  if not rule then return end
  unindex_call(c)
  c[CF.fallback] = rule[2]
  redis.call('HSET', ckey(cid), CF.fallback, c[CF.fallback])
  index_call(c)
  changed = true
  match_call(c)
end

-- the phone has rung far longer than the no-answer timeout and nobody reported it
local function ring_overdue(cid, due)
  redis.call('ZREM', RING, cid)
  local c = load_call(cid)
  if not c or c[CF.state] ~= CS.ringing
      or math.abs(tonumber(c[CF.rang_at]) + C[S.ring_deadline_seconds] - due) > 0.000002 then
    return
  end
  local a = akey(c[CF.agent])
  if redis.call('HGET', a, AF.state) == AS.ringing and redis.call('HGET', a, AF.call) == cid then
    set_agent(a, AF.state, AS.paused, AF.pause_reason, C[S.ring_cause], AF.since, f(due),
      AF.call, '')
  end
  requeue(c)
end

local function advance()
  -- starvation bound: only changes the order of the line, never who can serve a call
  if C[S.starvation_seconds] > 0 then
    for _, cid in ipairs(redis.call('ZRANGEBYSCORE', STARVE, '-inf', f(now))) do
      redis.call('ZREM', STARVE, cid)
      local c = load_call(cid)
      if c and c[CF.state] == CS.waiting and c[CF.effective_priority] < C[S.starved_priority] then
        unindex_call(c)
        c[CF.effective_priority] = C[S.starved_priority]
        redis.call('HSET', ckey(cid), CF.effective_priority, c[CF.effective_priority])
        index_call(c)
        changed = true
      end
    end
  end
  -- wrap-up ends and overflows, in the order they fell due
  local ev = {}
  local w = redis.call('ZRANGEBYSCORE', WRAP, '-inf', f(now), 'WITHSCORES')
  for i = 1, #w, 2 do table.insert(ev, { tonumber(w[i + 1]), 0, w[i] }) end
  local o = redis.call('ZRANGEBYSCORE', OVF, '-inf', f(now), 'WITHSCORES')
  for i = 1, #o, 2 do table.insert(ev, { tonumber(o[i + 1]), 1, o[i] }) end
  if C[S.ring_deadline_seconds] > 0 then
    local g = redis.call('ZRANGEBYSCORE', RING, '-inf', f(now), 'WITHSCORES')
    for i = 1, #g, 2 do table.insert(ev, { tonumber(g[i + 1]), 2, g[i] }) end
  end
  table.sort(ev, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[3] < y[3]
  end)
  for _, e in ipairs(ev) do
    if e[2] == 0 then
      wrap_done(e[3], e[1])
    elseif e[2] == 1 then
      overflow_due(e[3])
    else
      ring_overdue(e[3], e[1])
    end
  end
end

-- ---------------------------------------------------------------- operations

local function end_call(c)
  redis.call('DEL', ckey(c.id))
  redis.call('ZREM', RING, c.id)
  redis.call('SREM', P .. ':calls', c.id)
  changed = true
end

-- create the call's hash from the arguments describing it: line, skills, caller,
-- priority, enqueued at, department
local function create_call(cid)
  local line, skills, caller = A[ARG.line], A[ARG.skills], A[ARG.caller]
  local pr, at, dept = tonumber(A[ARG.priority]), tonumber(A[ARG.enqueued_at]), A[ARG.department]
  local ep = pr
  if C[S.starvation_seconds] > 0 and pr < C[S.starved_priority] and at + C[S.starvation_seconds] <= now then
    ep = C[S.starved_priority]
  end
  redis.call('HSET', ckey(cid), CF.line, line, CF.skills, skills, CF.caller, caller,
    CF.priority, pr, CF.effective_priority, ep, CF.enqueued_at, f(at), CF.department, dept,
    CF.order, f(at), CF.fallback, '', CF.callback, CB.not_set, CF.state, CS.waiting,
    CF.agent, '')
  redis.call('SADD', P .. ':calls', cid)
  return load_call(cid)
end

local function op_enqueue()
  local cid = A[ARG.call]
  if redis.call('EXISTS', ckey(cid)) == 1 then return ERR.duplicate_call end
  local c = create_call(cid)
  line_up(c, false)
  match_call(c)
end

local function op_login()
  local id, sk, grp = A[ARG.agent], A[ARG.skills], A[ARG.group]
  local a = akey(id)
  local st = redis.call('HGET', a, AF.state)
  redis.call('SADD', P .. ':agents', id)
  if st and st ~= AS.logged_out then
    -- already logged in: new skills and group, state unchanged
    local was_ready = st == AS.ready
    local idle = tonumber(redis.call('HGET', a, AF.idle_since))
    local since = tonumber(redis.call('HGET', a, AF.since))
    unready(id)
    redis.call('HSET', a, AF.skills, sk, AF.group, grp)
    touched[a] = true  -- its serving sets follow the new skills
    if was_ready then
      make_ready(id, idle, since)
      match_agent(id)
    end
    changed = true
    return nil
  end
  redis.call('HSET', a, AF.skills, sk, AF.group, grp, AF.calls_taken, 0, AF.pending_pause, '',
    AF.pause_reason, '')
  make_ready(id, now, now)
  match_agent(id)
end

local function agent_state(id)
  return redis.call('HGET', akey(id), AF.state)
end

local function ringing_call(id)
  local cid = redis.call('HGET', akey(id), AF.call)
  if not cid or cid == '' then return nil end
  local c = load_call(cid)
  if c and c[CF.state] == CS.ringing and c[CF.agent] == id then return c end
  return nil
end

local function op_logout()
  local id = A[ARG.agent]
  local st = agent_state(id)
  if not st or st == AS.logged_out then warn = 'not logged in' return nil end
  local ring = nil
  if st == AS.ringing then ring = ringing_call(id) end
  unready(id)
  redis.call('ZREM', WRAP, id)
  set_agent(akey(id), AF.state, AS.logged_out, AF.since, f(now), AF.pause_reason, '',
    AF.pending_pause, '',
    AF.call, '')
  changed = true
  if ring then requeue(ring) end
end

local function op_pause()
  local id, why = A[ARG.agent], A[ARG.reason]
  local st = agent_state(id)
  if not st or st == AS.logged_out then return ERR.not_logged_in end
  if st == AS.on_call or st == AS.wrap_up then
    redis.call('HSET', akey(id), AF.pending_pause, why)
    changed = true
    return nil
  end
  local ring = nil
  if st == AS.ringing then ring = ringing_call(id) end
  unready(id)
  local since = now
  if st == AS.paused then since = tonumber(redis.call('HGET', akey(id), AF.since)) end
  set_agent(akey(id), AF.state, AS.paused, AF.pause_reason, why, AF.since, f(since),
    AF.call, '')
  changed = true
  if ring then requeue(ring) end
end

local function op_unpause()
  local id = A[ARG.agent]
  local st = agent_state(id)
  if not st or st == AS.logged_out then return ERR.not_logged_in end
  if st == AS.paused then
    make_ready(id, now, now)
    match_agent(id)
  elseif (redis.call('HGET', akey(id), AF.pending_pause) or '') ~= '' then
    redis.call('HSET', akey(id), AF.pending_pause, '')
    changed = true
  end
end

local function abandon_call(c)
  local cid = c.id
  if c[CF.state] == CS.waiting then
    forget_waiting(c)
    count_abandon(c)
    end_call(c)
  elseif c[CF.state] == CS.ringing then
    count_abandon(c)
    end_call(c)
    local a = akey(c[CF.agent])
    if redis.call('HGET', a, AF.state) == AS.ringing and redis.call('HGET', a, AF.call) == cid then
      -- the agent never talked: keeps its place among idle agents
      make_ready(c[CF.agent], tonumber(redis.call('HGET', a, AF.idle_since)), now)
      match_agent(c[CF.agent])
    end
  else
    warn = 'call is being talked; use call_ended'
  end
end

local function op_abandon()
  local c = load_call(A[ARG.call])
  if not c then warn = 'unknown call' return nil end
  abandon_call(c)
end

local function op_answered()
  local cid, id = A[ARG.call], A[ARG.agent]
  local c = load_call(cid)
  local a = akey(id)
  -- A Redirect reported failed (timed out) may still have reached Asterisk: the agent it
  -- was for answers while resting and the call waits in line again. The answer is real.
  if c and c[CF.state] == CS.waiting and redis.call('HGET', a, AF.state) == AS.wrap_up
      and redis.call('HGET', a, AF.connect_failed) == cid then
    forget_waiting(c)
    redis.call('ZREM', WRAP, id)
    redis.call('HSET', ckey(cid), CF.state, CS.ringing, CF.agent, id)
    set_agent(a, AF.state, AS.ringing, AF.call, cid)
    c[CF.state], c[CF.agent] = CS.ringing, id
  end
  if not c or c[CF.state] ~= CS.ringing or c[CF.agent] ~= id then
    warn = 'call not ringing at this agent'
    return nil
  end
  if redis.call('HGET', a, AF.state) ~= AS.ringing then warn = 'agent not ringing' return nil end
  redis.call('HSET', ckey(cid), CF.state, CS.talking, CF.answered_at, f(now))
  redis.call('ZREM', RING, cid)
  set_agent(a, AF.state, AS.on_call, AF.since, f(now), AF.connect_failed, '')
  redis.call('HINCRBY', a, AF.calls_taken, 1)
  local wait = now - c[CF.enqueued_at]
  bump(c, FF.answered, 1)
  bump(c, FF.total_answer_wait, wait)
  if wait <= C[S.service_level_seconds] then bump(c, FF.answered_within_target, 1) end
  changed = true
end

local function op_ended()
  local cid, id = A[ARG.call], A[ARG.agent]
  local c = load_call(cid)
  if not c then warn = 'unknown call' return nil end
  if c[CF.state] == CS.waiting or c[CF.state] == CS.ringing then
    -- the caller hung up before anyone talked
    return abandon_call(c)
  end
  if c[CF.agent] ~= id then warn = 'call talked by another agent' return nil end
  local talk = now - tonumber(c[CF.answered_at])
  local ht = P .. ':ht:' .. c[CF.skills][1]
  redis.call('LPUSH', ht, f(talk))
  redis.call('LTRIM', ht, 0, C[S.handle_time_samples] - 1)
  end_call(c)
  local a = akey(id)
  if redis.call('HGET', a, AF.state) ~= AS.on_call or redis.call('HGET', a, AF.call) ~= cid then
    return nil
  end
  set_agent(a, AF.state, AS.wrap_up, AF.since, f(now), AF.call, '')
  if C[S.wrapup_seconds] > 0 then
    redis.call('ZADD', WRAP, f(now + C[S.wrapup_seconds]), id)
  else
    wrap_done(id, now)  -- READY at once, or PAUSED if a pause was asked during the call
  end
end

local function op_rna()
  local cid, id, why = A[ARG.call], A[ARG.agent], A[ARG.reason]
  local c = load_call(cid)
  if not c or c[CF.state] ~= CS.ringing or c[CF.agent] ~= id then
    warn = 'call not ringing at this agent'
    return nil
  end
  local a = akey(id)
  if redis.call('HGET', a, AF.state) == AS.ringing and redis.call('HGET', a, AF.call) == cid then
    set_agent(a, AF.state, AS.paused, AF.pause_reason, why, AF.since, f(now), AF.call, '')
  end
  requeue(c)
end

local function op_connect_failed()
  -- the telephony side could not move the caller to the agent (AMI Redirect failed or timed
  -- out): the call goes back to the head of its line; the agent, not at fault, rests in
  -- WRAP_UP for A[ARG.rest_seconds] so the same pair is not retried at once
  local cid, id, rest = A[ARG.call], A[ARG.agent], tonumber(A[ARG.rest_seconds])
  local c = load_call(cid)
  if not c or c[CF.state] ~= CS.ringing or c[CF.agent] ~= id then
    warn = 'call not ringing at this agent'
    return nil
  end
  local a = akey(id)
  if redis.call('HGET', a, AF.state) == AS.ringing and redis.call('HGET', a, AF.call) == cid then
    set_agent(a, AF.state, AS.wrap_up, AF.since, f(now), AF.call, '',
      AF.connect_failed, cid)
    redis.call('ZADD', WRAP, f(now + rest), id)
  end
  requeue(c)
end

local function op_callback()
  local cid = A[ARG.call]
  local c = load_call(cid)
  if not c or c[CF.state] ~= CS.waiting then return ERR.not_waiting end
  redis.call('HSET', ckey(cid), CF.callback, CB.set)
  changed = true
end

local function op_forget_call()
  -- reconciliation: the call is gone from Asterisk; not counted in figures
  local cid = A[ARG.call]
  local c = load_call(cid)
  if not c then return nil end
  if c[CF.state] == CS.waiting then forget_waiting(c) end
  end_call(c)
  if c[CF.agent] and c[CF.agent] ~= '' then
    local a = akey(c[CF.agent])
    if redis.call('HGET', a, AF.call) == cid then
      local st = redis.call('HGET', a, AF.state)
      if st == AS.ringing then
        make_ready(c[CF.agent], tonumber(redis.call('HGET', a, AF.idle_since)), now)
        match_agent(c[CF.agent])
      elseif st == AS.on_call then
        set_agent(a, AF.state, AS.wrap_up, AF.since, f(now), AF.call, '')
        redis.call('ZADD', WRAP, f(now + C[S.wrapup_seconds]), c[CF.agent])
        advance()
      end
    end
  end
end

local function op_force_talk()
  -- reconciliation: Asterisk says agent id talks (or rings, A[ARG.mode] = CS.ringing) with call
  -- cid; the other arguments describe the call in case the distributor never knew it
  local cid, id, mode = A[ARG.call], A[ARG.agent], A[ARG.mode]
  local a = akey(id)
  local st = redis.call('HGET', a, AF.state)
  if not st then return ERR.not_logged_in end
  local c = load_call(cid)
  if not c then
    c = create_call(cid)
  elseif c[CF.state] == CS.waiting then
    forget_waiting(c)
  end
  -- another agent the distributor gave this call to does not have it
  if c[CF.agent] and c[CF.agent] ~= '' and c[CF.agent] ~= id then
    local other = akey(c[CF.agent])
    if redis.call('HGET', other, AF.call) == cid then
      local ost = redis.call('HGET', other, AF.state)
      if ost == AS.ringing then
        make_ready(c[CF.agent], tonumber(redis.call('HGET', other, AF.idle_since)), now)
        match_agent(c[CF.agent])
      elseif ost == AS.on_call then
        set_agent(other, AF.state, AS.wrap_up, AF.since, f(now), AF.call, '')
        redis.call('ZADD', WRAP, f(now + C[S.wrapup_seconds]), c[CF.agent])
      end
    end
  end
  -- the agent's previous call, if another, is over (ringing: back to the head of the line)
  local prev = redis.call('HGET', a, AF.call)
  local relined = nil
  if prev and prev ~= '' and prev ~= cid then
    local p = load_call(prev)
    if p and p[CF.agent] == id then
      if p[CF.state] == CS.ringing then
        line_up(p, true)
        relined = p
      else
        end_call(p)
      end
    end
  end
  unready(id)
  redis.call('ZREM', WRAP, id)
  if mode == CS.ringing then
    set_agent(a, AF.state, AS.ringing, AF.since, f(now), AF.call, cid, AF.pause_reason, '')
    redis.call('HSET', ckey(cid), CF.state, CS.ringing, CF.agent, id, CF.rang_at, f(now))
    if C[S.ring_deadline_seconds] > 0 then
      redis.call('ZADD', RING, f(now + C[S.ring_deadline_seconds]), cid)
    end
  else
    set_agent(a, AF.state, AS.on_call, AF.since, f(now), AF.call, cid, AF.pause_reason, '')
    redis.call('HSET', ckey(cid), CF.state, CS.talking, CF.agent, id, CF.answered_at, f(now))
    redis.call('ZREM', RING, cid)
  end
  changed = true
  if relined then match_call(relined) end
end

local function op_agent_idle()
  -- reconciliation: Asterisk shows no call for agent id: it must not stay RINGING/ON_CALL
  local id = A[ARG.agent]
  local a = akey(id)
  local st = redis.call('HGET', a, AF.state)
  if st == AS.ringing then
    local c = ringing_call(id)
    if c then line_up(c, true) end
    make_ready(id, tonumber(redis.call('HGET', a, AF.idle_since)), now)
    advance()
    if c then
      c = load_call(c.id)
      if c and c[CF.state] == CS.waiting then match_call(c) end
    end
    if redis.call('HGET', a, AF.state) == AS.ready then match_agent(id) end
  elseif st == AS.on_call then
    local cid = redis.call('HGET', a, AF.call)
    if cid and cid ~= '' then
      local c = load_call(cid)
      if c and c[CF.agent] == id then end_call(c) end
    end
    set_agent(a, AF.state, AS.wrap_up, AF.since, f(now), AF.call, '')
    redis.call('ZADD', WRAP, f(now + C[S.wrapup_seconds]), id)
    advance()
  end
end

-- after a reconciliation made with matching held: every READY agent, longest idle first,
-- takes the best call it can serve
local function op_rematch()
  local ready = {}
  for _, id in ipairs(redis.call('SMEMBERS', P .. ':agents')) do
    touched[akey(id)] = true  -- the sets of every agent rebuilt (state kept from before them)
    local st, idle = unpack(redis.call('HMGET', akey(id), AF.state, AF.idle_since))
    if st == AS.ready then table.insert(ready, { tonumber(idle), id }) end
  end
  table.sort(ready, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  for _, r in ipairs(ready) do
    if redis.call('HGET', akey(r[2]), AF.state) == AS.ready then match_agent(r[2]) end
  end
end

local function op_reset_figures()
  for _, l in ipairs(redis.call('SMEMBERS', P .. ':flines')) do
    redis.call('DEL', P .. ':fl:' .. l)
  end
  for _, s in ipairs(redis.call('SMEMBERS', P .. ':fskills')) do
    redis.call('DEL', P .. ':fs:' .. s)
  end
  redis.call('DEL', P .. ':flines', P .. ':fskills')
  changed = true
end

local ops = {
  [OP.enqueue] = op_enqueue, [OP.login] = op_login, [OP.logout] = op_logout,
  [OP.pause] = op_pause, [OP.unpause] = op_unpause, [OP.abandon] = op_abandon,
  [OP.answered] = op_answered, [OP.ended] = op_ended, [OP.ring_no_answer] = op_rna,
  [OP.connect_failed] = op_connect_failed, [OP.callback] = op_callback,
  [OP.advance] = advance, [OP.forget_call] = op_forget_call,
  [OP.force_talk] = op_force_talk, [OP.rematch] = op_rematch,
  [OP.agent_idle] = op_agent_idle, [OP.reset_figures] = op_reset_figures,
}

local fn = ops[op]
if not fn then return cjson.encode({ [R.error] = ERR.unknown_operation }) end
if op ~= OP.advance then advance() end
local err = fn()
for a, _ in pairs(touched) do sync_serving(a) end
if changed then
  redis.call('PUBLISH', CHANNEL, cjson.encode({ [EV.op] = op, [EV.at] = f(now),
    [EV.matches] = #out }))
end
return cjson.encode({ [R.matches] = out, [R.error] = err, [R.warning] = warn })
