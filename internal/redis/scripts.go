package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts of the package, in one place. Redis runs a script atomically, which is what
// makes compare-and-delete safe against an owner change in between.
var (
	// compareAndDelete deletes KEYS[1] if it holds ARGV[1]. It returns 1 when deleted, 0 when
	// the key is gone, -1 when another value holds it.
	compareAndDelete = goredis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
if v == false then
	return 0
end
return -1
`)

	// deleteIfValueMany deletes each of KEYS that holds ARGV[1] and returns how many it deleted.
	deleteIfValueMany = goredis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
	if redis.call("GET", k) == ARGV[1] then
		n = n + redis.call("DEL", k)
	end
end
return n
`)

	// takeOrExtend sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds when the key is free, or
	// extends it to ARGV[2] milliseconds when it already holds ARGV[1]. It returns 1 when the key
	// holds ARGV[1] afterwards, 0 when another value holds it.
	takeOrExtend = goredis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v == false then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
if v == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
return 0
`)
)
