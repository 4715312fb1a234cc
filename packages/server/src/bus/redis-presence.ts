import type { Presence, PresenceEntry, PresenceOptions } from '../signal/presence.ts'
import type { RedisLink } from './redis.ts'

/**
 * Presence in Redis. Per account a sorted set (device → when its entry expires, by Redis's clock,
 * the one clock the nodes share) and a hash (device → node), changed together by Lua scripts so
 * that two nodes claiming at once see one order. Both keys expire with their last entry.
 */

/** Drops the account's expired entries; sets `now` for the rest of the script. */
const PRUNE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lifetime = tonumber(ARGV[#ARGV])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 1, #expired, 500 do
  local batch = { unpack(expired, i, math.min(i + 499, #expired)) }
  redis.call('ZREM', KEYS[1], unpack(batch))
  redis.call('HDEL', KEYS[2], unpack(batch))
end
local function hold(device, node)
  redis.call('ZADD', KEYS[1], now + lifetime, device)
  redis.call('HSET', KEYS[2], device, node)
  for _, key in ipairs(KEYS) do
    if redis.call('PTTL', key) < lifetime then redis.call('PEXPIRE', key, lifetime) end
  end
end
`

/** ARGV: device, node, max (-1: no cap), lifetime. 1 added, 2 refreshed, 0 full. */
const CLAIM = `${PRUNE}
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
local max = tonumber(ARGV[3])
if not held and max >= 0 and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
hold(ARGV[1], ARGV[2])
if held then return 2 end
return 1
`

/** ARGV: device, node, lifetime. */
const REFRESH = `${PRUNE}
local holder = redis.call('HGET', KEYS[2], ARGV[1])
if holder and holder ~= ARGV[2] then return 0 end
hold(ARGV[1], ARGV[2])
return 1
`

/** ARGV: device, node, lifetime. */
const RELEASE = `${PRUNE}
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`

/** ARGV: lifetime. The live devices and their nodes, flat: device, node, device, node… */
const DEVICES = `${PRUNE}
local out = {}
for _, device in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(out, device)
  table.insert(out, redis.call('HGET', KEYS[2], device) or '')
end
return out
`

/** Refreshes in batches: a node with many devices neither floods Redis nor holds every reply at once. */
const REFRESH_BATCH = 500

export function redisPresence(link: RedisLink, options: PresenceOptions): Presence {
  const claim = link.script('ringkitClaimPresence', CLAIM)
  const refresh = link.script('ringkitRefreshPresence', REFRESH)
  const release = link.script('ringkitReleasePresence', RELEASE)
  const devices = link.script('ringkitListPresence', DEVICES)
  const lifetime = Math.max(1, Math.ceil(options.lifetimeMs))
  return {
    async claim(appKey, accid, deviceId, node, max) {
      const answer = await claim(keysOf(appKey, accid), [deviceId, node, max ?? -1, lifetime])
      return answer === 1 ? 'added' : answer === 2 ? 'refreshed' : 'full'
    },
    async release(appKey, accid, deviceId, node) {
      return (await release(keysOf(appKey, accid), [deviceId, node, lifetime])) === 1
    },
    async refresh(node, entries: readonly PresenceEntry[]) {
      // Sent without waiting for each answer: ioredis writes them out back to back, a pipeline.
      for (let i = 0; i < entries.length; i += REFRESH_BATCH) {
        await Promise.all(
          entries
            .slice(i, i + REFRESH_BATCH)
            .map((e) => refresh(keysOf(e.appKey, e.accid), [e.deviceId, node, lifetime])),
        )
      }
    },
    async devices(appKey, accid) {
      const flat = (await devices(keysOf(appKey, accid), [lifetime])) as string[]
      const out = []
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ deviceId: flat[i]!, node: flat[i + 1]! })
      return out
    },
  }
}

/** One hash tag per account, so that both keys sit on one shard of a Redis Cluster. */
function keysOf(appKey: string, accid: string): string[] {
  const tag = `{${appKey}:${accid}}`
  return [`presence:${tag}:expiry`, `presence:${tag}:node`]
}
