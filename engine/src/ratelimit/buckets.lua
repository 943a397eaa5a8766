-- The buckets in use, from the index the GCRA script keeps (gcra.lua), run atomically by Redis.
--
-- KEYS[1]  the index: bucket keys scored by when their bucket expires (milliseconds since the epoch)
-- ARGV[1]  how many to return at most
--
-- Returns { buckets in use, the bucket keys that expire last (most recently or most heavily
-- used), at most ARGV[1] of them }. Members whose bucket expired are removed first.

local max = tonumber(ARGV[1])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', now_ms))
local in_use = redis.call('ZCARD', KEYS[1])
if max < 1 then
  return { in_use, {} }
end
return { in_use, redis.call('ZRANGE', KEYS[1], 0, max - 1, 'REV') }
