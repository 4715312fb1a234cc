import { randomUUID } from 'node:crypto'
import type { CallStateStore } from '../calls/ports.ts'
import { nextDeadline } from '../calls/steps.ts'
import type { CallState } from '../calls/types.ts'
import type { RedisLink } from './redis.ts'

/**
 * Live call state in Redis, shared by every node: `call:{callId}` is a hash of the state as JSON
 * (`s`), its version (`v`) and the token of the write that made it (`w`); `busy:{appKey}:{accid}`
 * holds the callId an account is in; `deadlines` is a sorted set of the calls that ring, scored by
 * their next ringing deadline, written in the same script as the state so that the two never
 * disagree and any node can fire a deadline that is due. Each compare-and-set is one Lua script, so of two nodes
 * racing on one call exactly one writes.
 *
 * Lifetime: a kept call expires `CALL_STATE_TTL_MS` after its last write, far past any call's
 * life, so that the keys of a cluster whose every node died do not stay forever (the journal in
 * the durable store still gives such calls their records). A busy claim counts only while its
 * call is kept, so an account is never left busy by a node that died between ending a call and
 * releasing its accounts.
 */

/** How long a call is kept after its last write: a week, far beyond what TURN allows a call (4 h). */
export const CALL_STATE_TTL_MS = 7 * 24 * 3600 * 1000
/** How long an ended call's tombstone stays: long enough for a write sent again after a reconnect. */
const TOMBSTONE_MS = 60_000
const DEADLINES = 'deadlines'

/**
 * Writes over the version named (ARGV[1], empty for a new call). Each write carries a token of its
 * own (ARGV[2]): a command that ioredis sends again after a reconnect finds its own first write
 * and wins, rather than losing to itself. The call's next ringing deadline (ARGV[5], empty when
 * nothing rings) goes into `deadlines` (KEYS[2]) under its id (ARGV[6]). Answers the version
 * written, or 0 when another came first.
 */
const PUT = `
local kept = redis.call('HMGET', KEYS[1], 'v', 'w')
if kept[2] == ARGV[2] then return tonumber(kept[1]) end
if ARGV[1] == '' then
  if kept[1] then return 0 end
elseif kept[1] ~= ARGV[1] then return 0 end
local version = (tonumber(kept[1]) or 0) + 1
redis.call('HSET', KEYS[1], 'v', version, 'w', ARGV[2], 's', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[5] == '' then redis.call('ZREM', KEYS[2], ARGV[6])
else redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6]) end
return version
`

/**
 * Forgets the call if it is at the version named, leaving a tombstone (a version without state)
 * for a while, so that the same command sent again knows it won, and a stale write still loses.
 */
const DELETE = `
local kept = redis.call('HMGET', KEYS[1], 'v', 'w')
if kept[2] == ARGV[2] then return 1 end
if kept[1] ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 's')
redis.call('HSET', KEYS[1], 'v', tonumber(kept[1]) + 1, 'w', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
return 1
`

/**
 * The calls due by ARGV[1] (at most ARGV[2]) whose state is still kept; a deadline whose call is
 * gone (its state expired) is dropped, so that it is not polled forever.
 */
const DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local kept = {}
for _, callId in ipairs(due) do
  if redis.call('HEXISTS', ARGV[3] .. callId, 's') == 1 then table.insert(kept, callId)
  else redis.call('ZREM', KEYS[1], callId) end
end
return kept
`

/**
 * Claims the account (KEYS[1]) for a call (ARGV[1]) unless another kept call holds it. ARGV[2] is
 * the prefixed name of call keys: the holder is known only once the claim is read.
 */
const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and redis.call('HEXISTS', ARGV[2] .. holder, 's') == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`

/** The call holding the account, if that call is still kept. */
const CALL_OF = `
local holder = redis.call('GET', KEYS[1])
if holder and redis.call('HEXISTS', ARGV[1] .. holder, 's') == 1 then return holder end
return false
`

export function redisCallStateStore(link: RedisLink): CallStateStore {
  const put = link.script('ringkitPutCall', PUT)
  const remove = link.script('ringkitDeleteCall', DELETE)
  const claim = link.script('ringkitClaimAccount', CLAIM)
  const release = link.script('ringkitReleaseAccount', RELEASE)
  const callOf = link.script('ringkitCallOfAccount', CALL_OF)
  const due = link.script('ringkitDueCalls', DUE)
  const callKey = (callId: string) => `call:${callId}`
  const busyKey = (appKey: string, accid: string) => `busy:${appKey}:${accid}`
  const callKeys = `${link.prefix}call:`
  return {
    async get(callId) {
      const [version, json] = await link.run((r) => r.hmget(callKey(callId), 'v', 's'))
      if (version == null || json == null) return undefined
      return { state: JSON.parse(json) as CallState, version: Number(version) }
    },
    async put(state, version) {
      const dueAt = nextDeadline(state) ?? ''
      const args = [version ?? '', randomUUID(), JSON.stringify(state), CALL_STATE_TTL_MS, dueAt, state.callId]
      const written = Number(await put([callKey(state.callId), DEADLINES], args))
      return written > 0 ? written : undefined
    },
    async delete(callId, version) {
      return (await remove([callKey(callId), DEADLINES], [version, randomUUID(), TOMBSTONE_MS, callId])) === 1
    },
    async claim(appKey, accid, callId) {
      return (await claim([busyKey(appKey, accid)], [callId, callKeys, CALL_STATE_TTL_MS])) === 1
    },
    async release(appKey, accid, callId) {
      await release([busyKey(appKey, accid)], [callId])
    },
    async callOf(appKey, accid) {
      const holder = await callOf([busyKey(appKey, accid)], [callKeys])
      return typeof holder === 'string' ? holder : undefined
    },
    async dueCalls(now, limit) {
      const ids = await due([DEADLINES], [now, limit, callKeys])
      return Array.isArray(ids) ? ids.map(String) : []
    },
  }
}
