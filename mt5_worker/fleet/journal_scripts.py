"""The order journal's Lua scripts (:mod:`~mt5_worker.fleet.order_journal`): each runs atomically in Redis, so two
workers handed the same key cannot both own it, and an outcome is recorded (and announced) once.

Keys and arguments, as :class:`~mt5_worker.fleet.order_journal.OrderJournal` passes them:

- ``CLAIM``: the record, the prefix (``mt5:``, for ``<prefix><worker>:incarnation``), the pending and unknown
  indexes, the journal's epoch; the request's fingerprint, the attempt (worker, incarnation, task, token), the
  lease, the TTL, the key, the login, a fresh epoch id. Answers ``[state, epoch, Redis's time]``.
- ``CONFIRM``: the record, the pending index; the token, the lease.
- ``UNKNOWN``: the record, the pending and unknown indexes; the token.
- ``COMPLETE``: the record, the pending and unknown indexes, and (to announce it) the account's trade events stream
  and the streams' horizon hash; the outcome (JSON), the TTL, the key, the login, the fingerprint, then the event's
  fields as name, value pairs.
- ``RELEASE``: the record, the pending index; the token.
- ``OPEN``: the pending and unknown indexes.
- ``PLAN``: a batch's record; its fingerprint, its positions (JSON), the TTL, the key, the login.
"""

NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

CLAIM = (
    NOW
    + """
local rec = KEYS[1]
local fingerprint, worker, incarnation, task, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local owner = {'worker', worker, 'incarnation', incarnation, 'task', task, 'token', token, 'lease_until', now + lease}
local epoch = redis.call('GET', KEYS[5])
if not epoch then
  epoch = ARGV[10] .. ':' .. now
  redis.call('SET', KEYS[5], epoch)
end
local mine = KEYS[2] .. worker .. ':incarnation'
if redis.call('EXISTS', mine) == 0 then redis.call('SET', mine, incarnation, 'EX', ttl) end  -- lost with the data
local function answer(state) return {state, epoch, tostring(now)} end
if redis.call('EXISTS', rec) == 0 then
  redis.call('HSET', rec, 'key', ARGV[8], 'login', ARGV[9], 'fingerprint', fingerprint, 'state', 'pending',
             'claimed_at', now, 'takeovers', 0, unpack(owner))
  redis.call('EXPIRE', rec, ttl)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - ttl)
  redis.call('ZADD', KEYS[3], now + lease, rec)
  return answer('claimed')
end
local f = redis.call('HMGET', rec, 'fingerprint', 'state', 'worker', 'incarnation', 'lease_until')
if f[1] ~= fingerprint then return answer('conflict') end
if f[2] == 'done' then return answer('done') end
local current = redis.call('GET', KEYS[2] .. f[3] .. ':incarnation')
local replaced = current and current ~= f[4]
if f[2] == 'unknown' or tonumber(f[5]) <= now or replaced then
  redis.call('HSET', rec, 'state', 'pending', unpack(owner))
  redis.call('HINCRBY', rec, 'takeovers', 1)
  redis.call('EXPIRE', rec, ttl)
  redis.call('ZREM', KEYS[4], rec)
  redis.call('ZADD', KEYS[3], now + lease, rec)
  return answer('reconcile')
end
return answer('busy')
"""
)

CONFIRM = (
    NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'state', 'token')
if f[1] ~= 'pending' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]), 'sent_at', now)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), KEYS[1])
return 1
"""
)

UNKNOWN = (
    NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'state', 'token')
if f[1] ~= 'pending' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'unknown')
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('ZADD', KEYS[3], now, KEYS[1])
return 1
"""
)

COMPLETE = (
    NOW
    + """
if redis.call('HGET', KEYS[1], 'state') == 'done' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'outcome', ARGV[1], 'done_at', now, 'key', ARGV[3], 'login', ARGV[4],
           'fingerprint', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('ZREM', KEYS[3], KEYS[1])
if #KEYS == 5 then  -- announce it: one event per recorded outcome, in the same step
  local ms = math.floor(now * 1000)
  local stamp = string.format('%.0f', ms)
  local horizon = string.format('%.0f', math.max(ms - tonumber(ARGV[2]) * 1000, 0))
  -- the entry's millisecond is its time_msc; Redis picks it only if the stream already holds a later one
  local added = redis.pcall('XADD', KEYS[4], 'MINID', '~', horizon, stamp .. '-*', 'time_msc', stamp, unpack(ARGV, 6))
  if type(added) == 'table' and added.err then
    redis.call('XADD', KEYS[4], 'MINID', '~', horizon, '*', 'time_msc', stamp, unpack(ARGV, 6))
  end
  redis.call('EXPIRE', KEYS[4], ARGV[2])
  redis.call('HSET', KEYS[5], KEYS[4], horizon)
end
return 1
"""
)

PLAN = (
    NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'fingerprint', 'positions')
if f[1] then
  if f[1] ~= ARGV[1] then return {'conflict', ''} end
  return {'planned', f[2]}
end
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'positions', ARGV[2], 'key', ARGV[4], 'login', ARGV[5],
           'planned_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'planned', ARGV[2]}
"""
)

RELEASE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'token')
if f[1] == 'pending' and f[2] == ARGV[1] then
  redis.call('ZREM', KEYS[2], KEYS[1])
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Counts of the keys not done, and the oldest entries' scores, at Redis's time. Numbers go back as strings
# (Redis would truncate a Lua float to an integer).
OPEN = (
    NOW
    + """
local oldest_pending = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local oldest_unknown = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {tostring(now), redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[1], '-inf', now),
        redis.call('ZCARD', KEYS[2]), oldest_pending[2] or '', oldest_unknown[2] or ''}
"""
)
