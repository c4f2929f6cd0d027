package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts make each read-judge-write step one atomic command, so that concurrent
// instances cannot interleave between the read and the write. Times cross into Lua as
// "seconds:nanoseconds" strings (see encodeTime) and are compared by before(), which keeps
// nanosecond precision: Lua numbers are doubles, which would round Unix nanoseconds.
//
// Some scripts reach keys named in the data (the sessions an index set lists) rather than in
// KEYS. Standalone Redis allows that; Redis Cluster would not, and this store does not
// support Cluster.

// luaTime is shared by every script that compares times.
const luaTime = `
local function split(s)
  local sec, nsec = string.match(s, '^(%-?%d+):(%d+)$')
  return tonumber(sec), tonumber(nsec)
end
local function before(a, b)
  local as, an = split(a)
  local bs, bn = split(b)
  return as < bs or (as == bs and an < bn)
end
`

// luaCreateSession defines create_session(skey, ikey, ttl, member, first): the session hash skey
// from the field/value pairs ARGV[first...], living ttl ms, and its hash member in the user
// index set ikey. Returns 0 when the session already exists (nothing written), 1 otherwise. The
// index set lives at least as long as the longest session it lists.
const luaCreateSession = `
local function create_session(skey, ikey, ttl, member, first)
  if redis.call('EXISTS', skey) == 1 then
    return 0
  end
  redis.call('HSET', skey, unpack(ARGV, first))
  redis.call('PEXPIRE', skey, ttl)
  redis.call('SADD', ikey, member)
  if redis.call('PTTL', ikey) < ttl then
    redis.call('PEXPIRE', ikey, ttl)
  end
  return 1
end
`

// createSession: KEYS[1] session, KEYS[2] user index set; ARGV[1] TTL in ms, ARGV[2] the
// session's hash (the index member), ARGV[3...] field/value pairs. See luaCreateSession.
var createSession = goredis.NewScript(luaCreateSession + `
return create_session(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], 3)
`)

// luaClaim defines held(key, now), true while a claim on key is live, and take(key, till,
// ttl), which claims it.
const luaClaim = luaTime + `
local function held(key, now)
  local v = redis.call('GET', key)
  return v and before(now, v)
end
local function take(key, till, ttl)
  redis.call('SET', key, till, 'PX', ttl)
end
`

// claimAndCreateSession: KEYS[1] claim, KEYS[2] session, KEYS[3] user index set; ARGV[1] now,
// ARGV[2] until, ARGV[3] the claim's TTL in ms, then the arguments of createSession from
// ARGV[4]. Returns 0 when the claim is held, -1 when the session exists (nothing written
// either way), 1 when both are written.
var claimAndCreateSession = goredis.NewScript(luaClaim + luaCreateSession + `
if held(KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
take(KEYS[1], ARGV[2], ARGV[3])
return create_session(KEYS[2], KEYS[3], tonumber(ARGV[4]), ARGV[5], 6)
`)

// touchSession: KEYS[1] session; ARGV[1] now, ARGV[2] lastSeen. Returns 0 when the session is
// absent or expired by the store's clock, 1 otherwise. LastSeen only moves forward.
var touchSession = goredis.NewScript(luaTime + `
local v = redis.call('HMGET', KEYS[1], 'expires_at', 'last_seen')
if not v[1] or not before(ARGV[1], v[1]) then
  return 0
end
if before(v[2], ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[2])
end
return 1
`)

// deleteByIndex: KEYS[1] user index set; ARGV[1] session key prefix, ARGV[2] session index
// ("" for all). Deletes the listed sessions that still exist and match, drops members whose
// session is gone, and returns how many sessions it deleted.
var deleteByIndex = goredis.NewScript(`
local n = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. member
  local index = redis.call('HGET', key, 'session_index')
  if not index then
    redis.call('SREM', KEYS[1], member)
  elseif ARGV[2] == '' or index == ARGV[2] then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], member)
    n = n + 1
  end
end
return n
`)

// claim: KEYS[1] claim; ARGV[1] now, ARGV[2] until, ARGV[3] TTL in ms. Returns 0 when a live
// claim holds the key (the caller lost), 1 when this call claimed it. The stored until, not
// Redis's TTL, decides liveness, so that the store's clock is the judge.
var claim = goredis.NewScript(luaClaim + `
if held(KEYS[1], ARGV[1]) then
  return 0
end
take(KEYS[1], ARGV[2], ARGV[3])
return 1
`)

// takePendingAndClaim: KEYS[1] pending login, KEYS[2] claim; ARGV[1] now, ARGV[2] until,
// ARGV[3] the claim's TTL in ms. Deletes the pending login and returns {value, result}: result
// 1 when this call claimed KEYS[2], 0 when a live claim holds it, -1 when the pending login has
// expired by the store's clock or cannot be read (nothing claimed; the caller decodes the
// value and reports which). An absent pending login returns an empty array, and claims nothing.
var takePendingAndClaim = goredis.NewScript(luaClaim + `
local v = redis.call('GETDEL', KEYS[1])
if not v then
  return {}
end
local ok, r = pcall(cjson.decode, v)
if not ok or type(r) ~= 'table' or type(r.expires_at) ~= 'string'
    or not string.match(r.expires_at, '^%-?%d+:%d+$') or not before(ARGV[1], r.expires_at) then
  return {v, -1}
end
if held(KEYS[2], ARGV[1]) then
  return {v, 0}
end
take(KEYS[2], ARGV[2], ARGV[3])
return {v, 1}
`)

// The sweep scripts take a batch of keys of one kind from SCAN and ARGV[1] = now; each deletes
// the records in its batch that have expired by the store's clock and returns how many.
var (
	sweepSessions = goredis.NewScript(luaTime + `
local n = 0
for _, key in ipairs(KEYS) do
  local exp = redis.call('HGET', key, 'expires_at')
  if exp and not before(ARGV[1], exp) then
    n = n + redis.call('DEL', key)
  end
end
return n
`)
	sweepPending = goredis.NewScript(luaTime + `
local n = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and not before(ARGV[1], cjson.decode(v).expires_at) then
    n = n + redis.call('DEL', key)
  end
end
return n
`)
	sweepClaims = goredis.NewScript(luaTime + `
local n = 0
for _, key in ipairs(KEYS) do
  local until_ = redis.call('GET', key)
  if until_ and not before(ARGV[1], until_) then
    n = n + redis.call('DEL', key)
  end
end
return n
`)
	// sweepIndexes: ARGV[1] session key prefix. Drops members whose session is gone (deleted,
	// swept, or expired by Redis).
	sweepIndexes = goredis.NewScript(`
local n = 0
for _, key in ipairs(KEYS) do
  for _, member in ipairs(redis.call('SMEMBERS', key)) do
    if redis.call('EXISTS', ARGV[1] .. member) == 0 then
      n = n + redis.call('SREM', key, member)
    end
  end
end
return n
`)
)
