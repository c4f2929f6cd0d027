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

// createSession: KEYS[1] session, KEYS[2] user index set; ARGV[1] TTL in ms, ARGV[2] the
// session's hash (the index member), ARGV[3...] field/value pairs. Returns 0 when the session
// already exists (nothing written), 1 otherwise. The index set lives at least as long as the
// longest session it lists.
var createSession = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local ttl = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[2])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
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
var claim = goredis.NewScript(luaTime + `
local held = redis.call('GET', KEYS[1])
if held and before(ARGV[1], held) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
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
