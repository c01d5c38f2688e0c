"""The hot window's writes, each one Lua script, so Redis runs it whole.

A channel's window is one sorted set scored by seq. Besides the messages (MessagePack
arrays, whose first byte is never `~`) it holds markers, members starting with `~`:

- a tombstone `~<seq>` at score seq: that message was revised (edited, recalled,
  redacted). The append skips a seq with a tombstone, so a late write of the original
  (queued on this node, or on the node that stored it) can never land after the drop;
- the floor `~floor` at score first_seq - 1: retention removed everything up to it,
  and the append skips those seqs.

A reader that meets a marker in its range treats it as a hole and asks the store.
Markers share the messages' key, so they expire, are evicted and are flushed with
what they guard, and the window's trim (by seq) drops those that no longer matter:
a seq at or below `top - window` is skipped by the append anyway.

The epoch key holds a token every writer checks before it appends: a Redis that lost
its data (a flush, a restart without persistence) lost the tombstones too, so a writer
that finds another token, or none, drops what it had queued instead of writing
originals whose revision it can no longer see.
"""

from __future__ import annotations

MARK = b"~"
FLOOR = "~floor"

# KEYS[1]: the epoch key; KEYS[2..]: one window per channel.
# ARGV: window, expiry (s), the epoch the writer knows, a new token (set if the epoch
# is gone), then per channel: its count n, its highest and lowest seq, then n (seq,
# member).
# Returns {1, written} or {0, the current epoch} when the writer's epoch is stale.
APPEND = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[4])
  return {0, ARGV[4]}
end
if epoch ~= ARGV[3] then
  return {0, epoch}
end
local window = tonumber(ARGV[1])
local ttl = ARGV[2]
local at = 5
local written = 0
for k = 2, #KEYS do
  local key = KEYS[k]
  local n = tonumber(ARGV[at])
  local high = tonumber(ARGV[at + 1])
  local low = tonumber(ARGV[at + 2])
  at = at + 3
  local top = high
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] and tonumber(last[2]) > top then
    top = tonumber(last[2])
  end
  local bottom = top - window
  local floor = tonumber(redis.call('ZSCORE', key, '~floor') or '0')
  if floor > bottom then
    bottom = floor
  end
  -- What the set already holds in the batch's seq range: tombstones to respect (a
  -- batch of new messages usually finds nothing there: one lookup, not one per seq).
  local dead = {}
  local there = redis.call('ZRANGEBYSCORE', key, low, high)
  for _, member in ipairs(there) do
    if string.sub(member, 1, 1) == '~' then
      dead[string.sub(member, 2)] = true
    end
  end
  local add = {}
  for i = 1, n do
    local seq = ARGV[at]
    if tonumber(seq) > bottom and not dead[seq] then
      add[#add + 1] = seq
      add[#add + 1] = ARGV[at + 1]
    end
    at = at + 2
  end
  for i = 1, #add, 2000 do  -- unpack's stack is limited: at most 1,000 members a call
    redis.call('ZADD', key, unpack(add, i, math.min(i + 1999, #add)))
  end
  written = written + #add / 2
  if top - window > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', top - window)
  end
  redis.call('EXPIRE', key, ttl)
end
return {1, written}
"""

# KEYS[1]: the window. ARGV: seq, expiry (s), window.
# The message's copy goes and a tombstone takes its place (unless the seq is already
# below the window, where the append skips it anyway).
REVISE = """
local key = KEYS[1]
local s = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, s, s)
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if not last[2] or s > tonumber(last[2]) - tonumber(ARGV[3]) then
  redis.call('ZADD', key, s, '~' .. ARGV[1])
  redis.call('EXPIRE', key, ARGV[2])
end
return 1
"""

# KEYS[1]: the window. ARGV: the floor (first_seq - 1), expiry (s).
# Everything up to the floor goes; the floor stays as a marker so a late append below
# it is skipped. It only rises.
EXPIRE = """
local key = KEYS[1]
local floor = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', floor)
local old = tonumber(redis.call('ZSCORE', key, '~floor') or '0')
if floor > old then
  redis.call('ZADD', key, floor, '~floor')
  redis.call('EXPIRE', key, ARGV[2])
end
return 1
"""
