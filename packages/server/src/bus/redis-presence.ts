import type { Presence, PresenceEntry, PresenceOptions } from '../signal/presence.ts'
import type { RedisLink } from './redis.ts'

/**
 * Presence in Redis. Per account a sorted set (device → when its entry expires, by Redis's clock,
 * the one clock the nodes share) and a hash (device → node), changed together by Lua scripts so
 * that two nodes claiming at once see one order. Both keys expire with their last entry.
 */

/**
 * Drops the account's expired entries; sets `now` for the rest of the script, defines `hold` and `claim`.
 * KEYS[1] and KEYS[2] are the account's presence keys (`presenceKeys`); the last ARGV the lifetime.
 */
export const PRUNE_PRESENCE = `
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
  for i = 1, 2 do
    if redis.call('PTTL', KEYS[i]) < lifetime then redis.call('PEXPIRE', KEYS[i], lifetime) end
  end
end
-- 1 added, 2 refreshed (the device held a slot), 0 full: the account has \`max\` devices (-1: no cap).
local function claim(device, node, max)
  local held = redis.call('ZSCORE', KEYS[1], device)
  if not held and max >= 0 and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
  hold(device, node)
  if held then return 2 end
  return 1
end
`

/** ARGV: device, node, max (-1: no cap), lifetime. 1 added, 2 refreshed, 0 full. */
const CLAIM = `${PRUNE_PRESENCE}
return claim(ARGV[1], ARGV[2], tonumber(ARGV[3]))
`

/** ARGV: device, node, lifetime. */
const REFRESH = `${PRUNE_PRESENCE}
local holder = redis.call('HGET', KEYS[2], ARGV[1])
if holder and holder ~= ARGV[2] then return 0 end
hold(ARGV[1], ARGV[2])
return 1
`

/** ARGV: device, node, lifetime. */
const RELEASE = `${PRUNE_PRESENCE}
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`

/** ARGV: lifetime. The live devices and their nodes, flat: device, node, device, node… */
const DEVICES = `${PRUNE_PRESENCE}
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
      const answer = await claim(presenceKeys(appKey, accid), [deviceId, node, max ?? -1, lifetime])
      return answer === 1 ? 'added' : answer === 2 ? 'refreshed' : 'full'
    },
    async release(appKey, accid, deviceId, node) {
      return (await release(presenceKeys(appKey, accid), [deviceId, node, lifetime])) === 1
    },
    async refresh(node, entries: readonly PresenceEntry[]) {
      // Sent without waiting for each answer: ioredis writes them out back to back, a pipeline.
      for (let i = 0; i < entries.length; i += REFRESH_BATCH) {
        await Promise.all(
          entries
            .slice(i, i + REFRESH_BATCH)
            .map((e) => refresh(presenceKeys(e.appKey, e.accid), [e.deviceId, node, lifetime])),
        )
      }
    },
    async devices(appKey, accid) {
      const flat = (await devices(presenceKeys(appKey, accid), [lifetime])) as string[]
      const out = []
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ deviceId: flat[i]!, node: flat[i + 1]! })
      return out
    },
  }
}

/** One hash tag per account, so that both keys sit on one shard of a Redis Cluster. */
export function presenceKeys(appKey: string, accid: string): string[] {
  const tag = accountTag(appKey, accid)
  return [`presence:${tag}:expiry`, `presence:${tag}:node`]
}

/** The hash tag of every key about one account's devices, their sessions' logs included. */
export const accountTag = (appKey: string, accid: string) => `{${appKey}:${accid}}`
