import { randomUUID } from 'node:crypto'
import type { NonceStore } from '../auth/checksum.ts'
import type { Cooldowns } from '../guards/cooldowns.ts'
import type { RateLimiter } from '../guards/rate-limiter.ts'
import type { RedisLink } from './redis.ts'

/**
 * The guards' ports in Redis, so that every node spends from one budget and one set of nonces.
 * Each read-modify-write is one Lua script: Redis runs it whole, with nothing in between, so two
 * nodes racing on one key see one order. A failure to reach Redis rejects with
 * `CLUSTER_UNAVAILABLE`: a guard that cannot count refuses rather than lets everything through.
 */

/**
 * SET NX for every key, as the memory store does: every key not spent yet is spent, and the spend
 * is fresh only when none was. Each spend writes a token of its own, so a command that ioredis
 * sends again after a reconnect sees its own first write rather than a replay.
 */
const SPEND = `
local fresh = 1
for _, key in ipairs(KEYS) do
  if not redis.call('SET', key, ARGV[2], 'NX', 'PX', ARGV[1]) then
    if redis.call('GET', key) ~= ARGV[2] then fresh = 0 end
  end
end
return fresh
`

export function redisNonceStore(link: RedisLink): NonceStore {
  const spend = link.script('ringkitSpendNonces', SPEND)
  return {
    async spend(keys, _nowMs, ttlMs) {
      // Redis's own clock times the expiry: the nodes' clocks need not agree.
      const spent = await spend(
        keys.map((k) => `spent:${k}`),
        [Math.max(1, Math.ceil(ttlMs)), randomUUID()],
      )
      return spent === 1
    },
  }
}

/**
 * A token bucket (`tokens`, `at`) refilled by the Redis server's clock, the one clock all nodes
 * share: with each node's own, a node whose clock runs ahead would refill everyone's budget. The
 * key expires when the bucket would be full again, as a missing key means a full bucket.
 */
const TAKE = `
local perSecond = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if saved[1] then
  local elapsed = math.max(0, now - tonumber(saved[2]))
  tokens = math.min(burst, tonumber(saved[1]) + elapsed / 1000 * perSecond)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
local fullInMs = 86400000
if perSecond > 0 then fullInMs = math.min(fullInMs, (burst - tokens) / perSecond * 1000) end
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(fullInMs)))
return allowed
`

export function redisRateLimiter(link: RedisLink): RateLimiter {
  const take = link.script('ringkitTakeToken', TAKE)
  return {
    async take(key, rate) {
      return (await take([`rate:${key}`], [rate.perSecond, rate.burst])) === 1
    },
  }
}

/** Keeps the longer of what is left and `ms`, as the memory cooldowns do. */
const START = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
`

export function redisCooldowns(link: RedisLink): Cooldowns {
  const start = link.script('ringkitStartCooldown', START)
  const keyOf = (key: string) => `cooldown:${key}`
  return {
    async start(key, ms) {
      if (ms <= 0) return
      await start([keyOf(key)], [Math.ceil(ms)])
    },
    async active(key) {
      return (await link.run((r) => r.exists(keyOf(key)))) === 1
    },
    async clear(key) {
      await link.run((r) => r.unlink(keyOf(key)))
    },
  }
}
