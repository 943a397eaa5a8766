-- GCRA bucket for one rate-limit key, run atomically by Redis.
--
-- KEYS[1]  bucket key; its value is the theoretical arrival time (TAT), microseconds since the epoch
-- KEYS[2]  index of the buckets in use: a sorted set of bucket keys, each scored by the time its
--          bucket expires (milliseconds since the epoch), so the console lists them without a SCAN
-- ARGV[1]  emission interval T in microseconds (period / rate, rounded up so we never exceed the rate)
-- ARGV[2]  burst: how many requests may arrive at once on an idle bucket
-- ARGV[3]  cost: 1 takes a token, 0 only reads the bucket (admin view) and writes nothing
--
-- Returns { allowed (1|0), retry_after_us, tokens_available_after }.
--
-- The clock is Redis's own TIME, so every replica judges against the same clock no matter how far
-- the hosts' clocks drift apart.

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- A missing key is an idle bucket; a TAT in the past is an idle bucket too (no credit is banked
-- beyond the burst).
local stored = redis.call('GET', KEYS[1])
local tat = tonumber(stored) or now
if tat < now then
  tat = now
end

local tolerance = interval * burst
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance

local function available(at)
  local n = math.floor((now + tolerance - at) / interval)
  if n < 0 then return 0 end
  if n > burst then return burst end
  return n
end

if cost == 0 then
  return { 1, 0, available(tat) }
end

if now < allow_at then
  return { 0, allow_at - now, available(tat) }
end

-- The bucket is full again once TAT has passed, so the key may vanish then. Numbers are formatted
-- with %d because Lua would otherwise print 16-digit microsecond values in exponent notation.
local ttl_ms = math.ceil((new_tat - now) / 1000)
if ttl_ms < 1 then ttl_ms = 1 end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))

-- The index: this bucket until it expires; buckets that expired leave it here (each once), so it
-- holds the buckets in use even if nobody reads it; and it expires with its last bucket. Its
-- expiry only ever moves later (PEXPIRETIME, Redis 7), one O(1) check per call.
local now_ms = math.floor(now / 1000)
local expires_ms = now_ms + ttl_ms
redis.call('ZADD', KEYS[2], string.format('%d', expires_ms), KEYS[1])
if not stored then
  -- Only a new bucket grows the index, so only then are the expired ones swept out.
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%d', now_ms))
end
if redis.call('PEXPIRETIME', KEYS[2]) < expires_ms then
  redis.call('PEXPIREAT', KEYS[2], string.format('%d', expires_ms))
end
return { 1, 0, available(new_tat) }
