-- Call distribution (ACD) state machine: every change of agent or call state runs here,
-- atomically, so several core processes sharing one Redis never give a call to two agents
-- nor two calls to one agent. Invariant kept after every run: no READY agent could take a
-- waiting call (otherwise it would have been assigned).
--
-- ARGV: 1 key prefix (<ns>:acd), 2 events channel, 3 operation, 4 now (seconds, float),
--       5 settings JSON, 6.. operation arguments.
-- Returns JSON {a: [[call, agent, line, caller, department, callback, priority], ...],
--               e: error code or nil, w: stale-event note or nil}.
--
-- Keys (all under the prefix; a single Redis, not Redis Cluster):
--   :agents            set of agent ids ever logged in
--   :a:<agent>         hash st, grp, why (pause reason), pend (pause after call), since,
--                      idle (idle since), n (calls answered since login), call, sk (JSON
--                      skill->level), rm (member in the ready sets, "" when not ready),
--                      cf (call whose connection failed while the agent rests after it)
--   :r:<skill>         zset READY agents; member "<idle %020.6f>|<agent>", score by strategy
--                      (0 longest idle: member order = idle order; calls taken; level,
--                      1 = best, as in config/agents.toml)
--   :calls             set of every call held (waiting, ringing, talking)
--   :c:<call>          hash ln, sk (JSON list), cl, pr, ep (effective priority), at, dp,
--                      ord (place in line), fb (overflow skill once overflowed), cb, st
--                      (W waiting, R ringing, T talking), ag, ra (ring at), ans (answered at)
--   :w:<skill>:<prio>  zset waiting calls of that skill queue and priority, score ord
--   :wl:<skill>        zset priorities present in that skill queue
--   :waiting           zset all waiting calls by enqueue time
--   :starve :ovf       zsets waiting calls by starvation / overflow due time
--   :wrap              zset agents in wrap-up by wrap-up end
--   :ring              zset ringing calls by stuck-ring deadline
--   :flines :fskills   sets of names having figures
--   :fl:<line> :fs:<skill>  hash figures: ans, ans_sl, abd, abd_late, wait_ans
--   :ht:<skill>        list recent talk seconds (estimated wait)
--
-- Time: every run first applies what fell due by `now` (starvation bound, then wrap-up
-- ends, overflows and stuck rings in the order they fell due). With settings.hold the
-- run changes state but assigns nothing (reconciliation); `rematch` assigns afterwards.

local P = ARGV[1]
local CHANNEL = ARGV[2]
local op = ARGV[3]
local now = tonumber(ARGV[4])
local C = cjson.decode(ARGV[5])
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

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function load_call(cid)
  local c = hgetall(ckey(cid))
  if not c then return nil end
  c.id = cid
  c.skills = cjson.decode(c.sk)
  c.ep = tonumber(c.ep)
  c.at = tonumber(c.at)
  c.ord = tonumber(c.ord)
  return c
end

-- ---------------------------------------------------------------- agents ready sets

local function strategy(s) return C.strat[s] or C.dstrat end

local function ready_score(s, level, calls)
  local st = strategy(s)
  if st == 'fewest_calls' then return calls end
  if st == 'skill_level' then return level end  -- level 1 is the best: lowest score first
  return 0
end

local function make_ready(id, idle, since)
  local a = akey(id)
  local sk = cjson.decode(redis.call('HGET', a, 'sk'))
  local calls = tonumber(redis.call('HGET', a, 'n') or '0')
  local m = string.format('%020.6f', idle) .. '|' .. id
  redis.call('HSET', a, 'st', 'READY', 'idle', f(idle), 'since', f(since), 'rm', m,
    'call', '', 'why', '', 'cf', '')
  for s, level in pairs(sk) do
    redis.call('ZADD', rkey(s), ready_score(s, level, calls), m)
  end
  changed = true
end

local function unready(id)
  local a = akey(id)
  local m = redis.call('HGET', a, 'rm')
  if m and m ~= '' then
    local sk = cjson.decode(redis.call('HGET', a, 'sk'))
    for s, _ in pairs(sk) do redis.call('ZREM', rkey(s), m) end
    redis.call('HSET', a, 'rm', '')
  end
end

-- ---------------------------------------------------------------- waiting line index

local function call_queues(c)
  local qs = { c.skills[1] }
  if c.fb and c.fb ~= '' then table.insert(qs, c.fb) end
  return qs
end

local function index_call(c)
  for _, s in ipairs(call_queues(c)) do
    redis.call('ZADD', wkey(s, c.ep), f(c.ord), c.id)
    redis.call('ZADD', lkey(s), c.ep, c.ep)
  end
end

local function unindex_call(c)
  for _, s in ipairs(call_queues(c)) do
    local w = wkey(s, c.ep)
    redis.call('ZREM', w, c.id)
    if redis.call('ZCARD', w) == 0 then redis.call('ZREM', lkey(s), c.ep) end
  end
end

local function forget_waiting(c)
  unindex_call(c)
  redis.call('ZREM', WAITING, c.id)
  redis.call('ZREM', STARVE, c.id)
  redis.call('ZREM', OVF, c.id)
end

-- ---------------------------------------------------------------- figures

local function bump(c, field, by)
  redis.call('SADD', P .. ':flines', c.ln)
  redis.call('SADD', P .. ':fskills', c.skills[1])
  redis.call('HINCRBYFLOAT', P .. ':fl:' .. c.ln, field, f(by))
  redis.call('HINCRBYFLOAT', P .. ':fs:' .. c.skills[1], field, f(by))
end

local function count_abandon(c)
  bump(c, 'abd', 1)
  if now - c.at > C.sl then bump(c, 'abd_late', 1) end
  changed = true
end

-- ---------------------------------------------------------------- matching

local function assign(c, id)
  forget_waiting(c)
  unready(id)
  redis.call('HSET', akey(id), 'st', 'RINGING', 'since', f(now), 'call', c.id)
  redis.call('HSET', ckey(c.id), 'st', 'R', 'ag', id, 'ra', f(now))
  if C.rto > 0 then redis.call('ZADD', RING, f(now + C.rto), c.id) end
  table.insert(out, { c.id, id, c.ln, c.cl, c.dp, c.cb == '1', tonumber(c.pr) })
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
  if C.hold then return nil end
  local id = pick_agent(c.skills[1], c.skills)
  if not id and c.fb and c.fb ~= '' then id = pick_agent(c.fb, { c.fb }) end
  if id then assign(c, id) end
  return id
end

-- agent side: agent id just became READY; it takes the best call it can serve:
-- highest priority, then the skill it is best at (the lowest level number: 1 = best), then
-- first come first served.
local function match_agent(id)
  if C.hold then return nil end
  local a = akey(id)
  local sk = cjson.decode(redis.call('HGET', a, 'sk'))
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
          local fields = redis.call('HMGET', ckey(cid), 'sk', 'fb')
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
  c.st = 'W'
  redis.call('ZREM', RING, c.id)
  -- a bound or an overflow that fell due while the call rang applies at once
  if C.starve > 0 and c.ep < C.sp and c.at + C.starve <= now then
    c.ep = C.sp
    redis.call('HSET', ckey(c.id), 'ep', c.ep)
  end
  local rule = C.ovf[c.skills[1]]
  if rule and (not c.fb or c.fb == '') and c.at + rule[1] <= now then
    c.fb = rule[2]
    redis.call('HSET', ckey(c.id), 'fb', c.fb)
  end
  if head then
    local first = c.ord
    for _, s in ipairs(call_queues(c)) do
      local h = redis.call('ZRANGE', wkey(s, c.ep), 0, 0, 'WITHSCORES')
      if #h > 0 and tonumber(h[2]) < first then first = tonumber(h[2]) end
    end
    c.ord = first - 0.001
  end
  redis.call('HSET', ckey(c.id), 'st', 'W', 'ag', '', 'ord', f(c.ord))
  redis.call('ZADD', WAITING, f(c.at), c.id)
  if C.starve > 0 and c.ep < C.sp then
    redis.call('ZADD', STARVE, f(c.at + C.starve), c.id)
  end
  if rule and (not c.fb or c.fb == '') then
    redis.call('ZADD', OVF, f(c.at + rule[1]), c.id)
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
  if redis.call('HGET', a, 'st') ~= 'WRAP_UP' then return end
  local pend = redis.call('HGET', a, 'pend') or ''
  if pend ~= '' then
    redis.call('HSET', a, 'st', 'PAUSED', 'why', pend, 'pend', '', 'since', f(t), 'call', '')
    changed = true
  else
    make_ready(id, t, t)
    match_agent(id)
  end
end

local function overflow_due(cid)
  redis.call('ZREM', OVF, cid)
  local c = load_call(cid)
  if not c or c.st ~= 'W' or (c.fb and c.fb ~= '') then return end
  local rule = C.ovf[c.skills[1]]
  if not rule then return end
  unindex_call(c)
  c.fb = rule[2]
  redis.call('HSET', ckey(cid), 'fb', c.fb)
  index_call(c)
  changed = true
  match_call(c)
end

-- the phone has rung far longer than the no-answer timeout and nobody reported it
local function ring_overdue(cid, due)
  redis.call('ZREM', RING, cid)
  local c = load_call(cid)
  if not c or c.st ~= 'R' or math.abs(tonumber(c.ra) + C.rto - due) > 0.000002 then return end
  local a = akey(c.ag)
  if redis.call('HGET', a, 'st') == 'RINGING' and redis.call('HGET', a, 'call') == cid then
    redis.call('HSET', a, 'st', 'PAUSED', 'why', C.rcause, 'since', f(due), 'call', '')
  end
  requeue(c)
end

local function advance()
  -- starvation bound: only changes the order of the line, never who can serve a call
  if C.starve > 0 then
    for _, cid in ipairs(redis.call('ZRANGEBYSCORE', STARVE, '-inf', f(now))) do
      redis.call('ZREM', STARVE, cid)
      local c = load_call(cid)
      if c and c.st == 'W' and c.ep < C.sp then
        unindex_call(c)
        c.ep = C.sp
        redis.call('HSET', ckey(cid), 'ep', c.ep)
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
  if C.rto > 0 then
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

-- create the call's hash from ARGV[first..first+5]: line, skills, caller, prio, at, dept
local function create_call(cid, first)
  local line, skills, caller = ARGV[first], ARGV[first + 1], ARGV[first + 2]
  local pr, at, dept = tonumber(ARGV[first + 3]), tonumber(ARGV[first + 4]), ARGV[first + 5]
  local ep = pr
  if C.starve > 0 and pr < C.sp and at + C.starve <= now then ep = C.sp end
  redis.call('HSET', ckey(cid), 'ln', line, 'sk', skills, 'cl', caller, 'pr', pr, 'ep', ep,
    'at', f(at), 'dp', dept, 'ord', f(at), 'fb', '', 'cb', '0', 'st', 'W', 'ag', '')
  redis.call('SADD', P .. ':calls', cid)
  return load_call(cid)
end

local function op_enqueue()
  local cid = ARGV[6]
  if redis.call('EXISTS', ckey(cid)) == 1 then return 'duplicate_call' end
  local c = create_call(cid, 7)
  line_up(c, false)
  match_call(c)
end

local function op_login()
  local id, sk, grp = ARGV[6], ARGV[7], ARGV[8]
  local a = akey(id)
  local st = redis.call('HGET', a, 'st')
  redis.call('SADD', P .. ':agents', id)
  if st and st ~= 'LOGGED_OUT' then
    -- already logged in: new skills and group, state unchanged
    local was_ready = st == 'READY'
    local idle = tonumber(redis.call('HGET', a, 'idle'))
    local since = tonumber(redis.call('HGET', a, 'since'))
    unready(id)
    redis.call('HSET', a, 'sk', sk, 'grp', grp)
    if was_ready then
      make_ready(id, idle, since)
      match_agent(id)
    end
    changed = true
    return nil
  end
  redis.call('HSET', a, 'sk', sk, 'grp', grp, 'n', 0, 'pend', '', 'why', '')
  make_ready(id, now, now)
  match_agent(id)
end

local function agent_state(id)
  return redis.call('HGET', akey(id), 'st')
end

local function ringing_call(id)
  local cid = redis.call('HGET', akey(id), 'call')
  if not cid or cid == '' then return nil end
  local c = load_call(cid)
  if c and c.st == 'R' and c.ag == id then return c end
  return nil
end

local function op_logout()
  local id = ARGV[6]
  local st = agent_state(id)
  if not st or st == 'LOGGED_OUT' then warn = 'not logged in' return nil end
  local ring = nil
  if st == 'RINGING' then ring = ringing_call(id) end
  unready(id)
  redis.call('ZREM', WRAP, id)
  redis.call('HSET', akey(id), 'st', 'LOGGED_OUT', 'since', f(now), 'why', '', 'pend', '',
    'call', '')
  changed = true
  if ring then requeue(ring) end
end

local function op_pause()
  local id, why = ARGV[6], ARGV[7]
  local st = agent_state(id)
  if not st or st == 'LOGGED_OUT' then return 'not_logged_in' end
  if st == 'ON_CALL' or st == 'WRAP_UP' then
    redis.call('HSET', akey(id), 'pend', why)
    changed = true
    return nil
  end
  local ring = nil
  if st == 'RINGING' then ring = ringing_call(id) end
  unready(id)
  local since = now
  if st == 'PAUSED' then since = tonumber(redis.call('HGET', akey(id), 'since')) end
  redis.call('HSET', akey(id), 'st', 'PAUSED', 'why', why, 'since', f(since), 'call', '')
  changed = true
  if ring then requeue(ring) end
end

local function op_unpause()
  local id = ARGV[6]
  local st = agent_state(id)
  if not st or st == 'LOGGED_OUT' then return 'not_logged_in' end
  if st == 'PAUSED' then
    make_ready(id, now, now)
    match_agent(id)
  elseif (redis.call('HGET', akey(id), 'pend') or '') ~= '' then
    redis.call('HSET', akey(id), 'pend', '')
    changed = true
  end
end

local function abandon_call(c)
  local cid = c.id
  if c.st == 'W' then
    forget_waiting(c)
    count_abandon(c)
    end_call(c)
  elseif c.st == 'R' then
    count_abandon(c)
    end_call(c)
    local a = akey(c.ag)
    if redis.call('HGET', a, 'st') == 'RINGING' and redis.call('HGET', a, 'call') == cid then
      -- the agent never talked: keeps its place among idle agents
      make_ready(c.ag, tonumber(redis.call('HGET', a, 'idle')), now)
      match_agent(c.ag)
    end
  else
    warn = 'call is being talked; use call_ended'
  end
end

local function op_abandon()
  local c = load_call(ARGV[6])
  if not c then warn = 'unknown call' return nil end
  abandon_call(c)
end

local function op_answered()
  local cid, id = ARGV[6], ARGV[7]
  local c = load_call(cid)
  local a = akey(id)
  -- A Redirect reported failed (timed out) may still have reached Asterisk: the agent it
  -- was for answers while resting and the call waits in line again. The answer is real.
  if c and c.st == 'W' and redis.call('HGET', a, 'st') == 'WRAP_UP'
      and redis.call('HGET', a, 'cf') == cid then
    forget_waiting(c)
    redis.call('ZREM', WRAP, id)
    redis.call('HSET', ckey(cid), 'st', 'R', 'ag', id)
    redis.call('HSET', a, 'st', 'RINGING', 'call', cid)
    c.st, c.ag = 'R', id
  end
  if not c or c.st ~= 'R' or c.ag ~= id then warn = 'call not ringing at this agent' return nil end
  if redis.call('HGET', a, 'st') ~= 'RINGING' then warn = 'agent not ringing' return nil end
  redis.call('HSET', ckey(cid), 'st', 'T', 'ans', f(now))
  redis.call('ZREM', RING, cid)
  redis.call('HSET', a, 'st', 'ON_CALL', 'since', f(now), 'cf', '')
  redis.call('HINCRBY', a, 'n', 1)
  local wait = now - c.at
  bump(c, 'ans', 1)
  bump(c, 'wait_ans', wait)
  if wait <= C.sl then bump(c, 'ans_sl', 1) end
  changed = true
end

local function op_ended()
  local cid, id = ARGV[6], ARGV[7]
  local c = load_call(cid)
  if not c then warn = 'unknown call' return nil end
  if c.st == 'W' or c.st == 'R' then
    -- the caller hung up before anyone talked
    return abandon_call(c)
  end
  if c.ag ~= id then warn = 'call talked by another agent' return nil end
  local talk = now - tonumber(c.ans)
  local ht = P .. ':ht:' .. c.skills[1]
  redis.call('LPUSH', ht, f(talk))
  redis.call('LTRIM', ht, 0, C.nhts - 1)
  end_call(c)
  local a = akey(id)
  if redis.call('HGET', a, 'st') ~= 'ON_CALL' or redis.call('HGET', a, 'call') ~= cid then
    return nil
  end
  redis.call('HSET', a, 'st', 'WRAP_UP', 'since', f(now), 'call', '')
  if C.wrap > 0 then
    redis.call('ZADD', WRAP, f(now + C.wrap), id)
  else
    wrap_done(id, now)  -- READY at once, or PAUSED if a pause was asked during the call
  end
end

local function op_rna()
  local cid, id, why = ARGV[6], ARGV[7], ARGV[8]
  local c = load_call(cid)
  if not c or c.st ~= 'R' or c.ag ~= id then warn = 'call not ringing at this agent' return nil end
  local a = akey(id)
  if redis.call('HGET', a, 'st') == 'RINGING' and redis.call('HGET', a, 'call') == cid then
    redis.call('HSET', a, 'st', 'PAUSED', 'why', why, 'since', f(now), 'call', '')
  end
  requeue(c)
end

local function op_connect_failed()
  -- the telephony side could not move the caller to the agent (AMI Redirect failed or timed
  -- out): the call goes back to the head of its line; the agent, not at fault, rests in
  -- WRAP_UP for ARGV[8] seconds so the same pair is not retried at once
  local cid, id, rest = ARGV[6], ARGV[7], tonumber(ARGV[8])
  local c = load_call(cid)
  if not c or c.st ~= 'R' or c.ag ~= id then warn = 'call not ringing at this agent' return nil end
  local a = akey(id)
  if redis.call('HGET', a, 'st') == 'RINGING' and redis.call('HGET', a, 'call') == cid then
    redis.call('HSET', a, 'st', 'WRAP_UP', 'since', f(now), 'call', '', 'cf', cid)
    redis.call('ZADD', WRAP, f(now + rest), id)
  end
  requeue(c)
end

local function op_callback()
  local cid = ARGV[6]
  local c = load_call(cid)
  if not c or c.st ~= 'W' then return 'not_waiting' end
  redis.call('HSET', ckey(cid), 'cb', '1')
  changed = true
end

local function op_forget_call()
  -- reconciliation: the call is gone from Asterisk; not counted in figures
  local cid = ARGV[6]
  local c = load_call(cid)
  if not c then return nil end
  if c.st == 'W' then forget_waiting(c) end
  end_call(c)
  if c.ag and c.ag ~= '' then
    local a = akey(c.ag)
    if redis.call('HGET', a, 'call') == cid then
      local st = redis.call('HGET', a, 'st')
      if st == 'RINGING' then
        make_ready(c.ag, tonumber(redis.call('HGET', a, 'idle')), now)
        match_agent(c.ag)
      elseif st == 'ON_CALL' then
        redis.call('HSET', a, 'st', 'WRAP_UP', 'since', f(now), 'call', '')
        redis.call('ZADD', WRAP, f(now + C.wrap), c.ag)
        advance()
      end
    end
  end
end

local function op_force_talk()
  -- reconciliation: Asterisk says agent id talks (or rings, ARGV[8] = 'R') with call cid;
  -- ARGV[9..14] describe the call in case the distributor never knew it
  local cid, id, mode = ARGV[6], ARGV[7], ARGV[8]
  local a = akey(id)
  local st = redis.call('HGET', a, 'st')
  if not st then return 'not_logged_in' end
  local c = load_call(cid)
  if not c then
    c = create_call(cid, 9)
  elseif c.st == 'W' then
    forget_waiting(c)
  end
  -- another agent the distributor gave this call to does not have it
  if c.ag and c.ag ~= '' and c.ag ~= id then
    local other = akey(c.ag)
    if redis.call('HGET', other, 'call') == cid then
      local ost = redis.call('HGET', other, 'st')
      if ost == 'RINGING' then
        make_ready(c.ag, tonumber(redis.call('HGET', other, 'idle')), now)
        match_agent(c.ag)
      elseif ost == 'ON_CALL' then
        redis.call('HSET', other, 'st', 'WRAP_UP', 'since', f(now), 'call', '')
        redis.call('ZADD', WRAP, f(now + C.wrap), c.ag)
      end
    end
  end
  -- the agent's previous call, if another, is over (ringing: back to the head of the line)
  local prev = redis.call('HGET', a, 'call')
  local relined = nil
  if prev and prev ~= '' and prev ~= cid then
    local p = load_call(prev)
    if p and p.ag == id then
      if p.st == 'R' then
        line_up(p, true)
        relined = p
      else
        end_call(p)
      end
    end
  end
  unready(id)
  redis.call('ZREM', WRAP, id)
  if mode == 'R' then
    redis.call('HSET', a, 'st', 'RINGING', 'since', f(now), 'call', cid, 'why', '')
    redis.call('HSET', ckey(cid), 'st', 'R', 'ag', id, 'ra', f(now))
    if C.rto > 0 then redis.call('ZADD', RING, f(now + C.rto), cid) end
  else
    redis.call('HSET', a, 'st', 'ON_CALL', 'since', f(now), 'call', cid, 'why', '')
    redis.call('HSET', ckey(cid), 'st', 'T', 'ag', id, 'ans', f(now))
    redis.call('ZREM', RING, cid)
  end
  changed = true
  if relined then match_call(relined) end
end

local function op_agent_idle()
  -- reconciliation: Asterisk shows no call for agent id: it must not stay RINGING/ON_CALL
  local id = ARGV[6]
  local a = akey(id)
  local st = redis.call('HGET', a, 'st')
  if st == 'RINGING' then
    local c = ringing_call(id)
    if c then line_up(c, true) end
    make_ready(id, tonumber(redis.call('HGET', a, 'idle')), now)
    advance()
    if c then
      c = load_call(c.id)
      if c and c.st == 'W' then match_call(c) end
    end
    if redis.call('HGET', a, 'st') == 'READY' then match_agent(id) end
  elseif st == 'ON_CALL' then
    local cid = redis.call('HGET', a, 'call')
    if cid and cid ~= '' then
      local c = load_call(cid)
      if c and c.ag == id then end_call(c) end
    end
    redis.call('HSET', a, 'st', 'WRAP_UP', 'since', f(now), 'call', '')
    redis.call('ZADD', WRAP, f(now + C.wrap), id)
    advance()
  end
end

-- after a reconciliation made with matching held: every READY agent, longest idle first,
-- takes the best call it can serve
local function op_rematch()
  local ready = {}
  for _, id in ipairs(redis.call('SMEMBERS', P .. ':agents')) do
    local st, idle = unpack(redis.call('HMGET', akey(id), 'st', 'idle'))
    if st == 'READY' then table.insert(ready, { tonumber(idle), id }) end
  end
  table.sort(ready, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  for _, r in ipairs(ready) do
    if redis.call('HGET', akey(r[2]), 'st') == 'READY' then match_agent(r[2]) end
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
  enqueue = op_enqueue, login = op_login, logout = op_logout, pause = op_pause,
  unpause = op_unpause, abandon = op_abandon, answered = op_answered, ended = op_ended,
  rna = op_rna, connect_failed = op_connect_failed, callback = op_callback, dispatch = advance, forget_call = op_forget_call,
  force_talk = op_force_talk, rematch = op_rematch, agent_idle = op_agent_idle,
  reset_figures = op_reset_figures,
}

local fn = ops[op]
if not fn then return cjson.encode({ e = 'unknown_operation' }) end
if op ~= 'dispatch' then advance() end
local err = fn()
if changed then
  redis.call('PUBLISH', CHANNEL, cjson.encode({ op = op, t = f(now), n = #out }))
end
return cjson.encode({ a = out, e = err, w = warn })
