-- A waiting caller's place in line (排队位置) and what the estimated wait needs, read in one
-- run whose cost does not grow with the line: a rank in the caller's skill queue, one count
-- per higher priority present, the count of the skill's serving agents and its recent talk
-- times. Reads only; assign.lua keeps every key it reads.
--
-- Names are written TABLE.name with the tables of hotline_core/acd/contract.py
-- (PLACE_TABLES): ARGV slots PSLOT, result places PR, call fields CF, call states CS.
-- ARGV: PSLOT.prefix key prefix (<ns>:acd), PSLOT.now the distributor's clock,
--       PSLOT.starvation_seconds and PSLOT.starved_priority (the starvation bound),
--       PSLOT.call the call.
-- Returns false when the call is not waiting, else a list: PR.ahead calls ahead of it in
--       its skill queue, PR.serving agents serving that skill, from PR.talk_seconds on the
--       recent talk times (strings) of the skill.
--
-- Order of the line, as assign.lua serves it: effective priority (highest first), then
-- place (CF.order). A bound that fell due since the last run of assign.lua (it runs when
-- the first one falls due: the distribution loop wakes for it) is applied here as the
-- next run will apply it, for those few calls only (:starve up to now).

local P = ARGV[PSLOT.prefix]
local now = tonumber(ARGV[PSLOT.now])
local bound = tonumber(ARGV[PSLOT.starvation_seconds])
local starved = tonumber(ARGV[PSLOT.starved_priority])
local cid = ARGV[PSLOT.call]

local function fields(id)
  return redis.call('HMGET', P .. ':c:' .. id, CF.state, CF.skills, CF.effective_priority,
    CF.order)
end

local mine = fields(cid)
if mine[1] ~= CS.waiting then return false end
local skill = cjson.decode(mine[2])[1]
local stored, ord = tonumber(mine[3]), tonumber(mine[4])

-- calls of this skill queue whose bound fell due and is not yet applied: id -> order
local due = {}
if bound > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':starve', '-inf', string.format('%.6f', now))) do
    local c = fields(id)
    if c[1] == CS.waiting and cjson.decode(c[2])[1] == skill and tonumber(c[3]) < starved then
      due[id] = { tonumber(c[3]), tonumber(c[4]) }
    end
  end
end

local level = stored
if due[cid] then level = starved end
local function pkey(lv) return P .. ':wp:' .. skill .. ':' .. lv end

local ahead = 0
for _, lv in ipairs(redis.call('ZRANGEBYSCORE', P .. ':wpl:' .. skill, '(' .. level, '+inf')) do
  ahead = ahead + redis.call('ZCARD', pkey(lv))
end
if level == stored then
  ahead = ahead + (redis.call('ZRANK', pkey(level), cid) or 0)
else
  ahead = ahead + redis.call('ZCOUNT', pkey(level), '-inf', '(' .. string.format('%.6f', ord))
end
-- each call whose bound fell due: counted where it is stored, it belongs at starved
for id, c in pairs(due) do
  if id ~= cid then
    local lv, o = c[1], c[2]
    local before = lv > level or (lv == level and o < ord)
    local after = starved > level or (starved == level and o < ord)
    if before and not after then ahead = ahead - 1 end
    if after and not before then ahead = ahead + 1 end
  end
end

local out = { [PR.ahead] = ahead, [PR.serving] = redis.call('SCARD', P .. ':sv:' .. skill) }
for i, t in ipairs(redis.call('LRANGE', P .. ':ht:' .. skill, 0, -1)) do
  out[PR.talk_seconds + i - 1] = t
end
return out
