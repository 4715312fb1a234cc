import type { SfuRoom, SfuRoomRegistry } from '../sfu/types.ts'
import { CALL_STATE_TTL_MS } from './redis-call-state.ts'
import type { RedisLink } from './redis.ts'

/**
 * The group-call room registry in Redis. `sfu:room:{callId}` holds the call's room as JSON (its
 * Janus, room id, pin and secret), set once by the first node that made one; `sfu:load:{janusUrl}`
 * is a sorted set of the calls whose room is on that Janus, scored by when the last node holding
 * members there stops counting it. A count is therefore what live nodes renew, never an INCR that
 * a node which died would leave behind.
 */

/** How long a node's hold on a room counts without being renewed. */
export const SFU_HOLD_MS = 15_000

/** Keeps the room (ARGV[1]) unless the call has one; answers the call's room either way. */
const PUT = `
local kept = redis.call('GET', KEYS[1])
if kept then return kept end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return ARGV[1]
`

/** Renews a hold, only while the call's room is still the one held. */
const HOLD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
`

/** Forgets the call's room and its count; only the first of several callers gets the room. */
const TAKE = `
local kept = redis.call('GET', KEYS[1])
if not kept then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. cjson.decode(kept).janusUrl, ARGV[2])
return kept
`

/** Per load key, the holds not lapsed by ARGV[1]; lapsed ones are dropped on the way. */
const LOADS = `
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  counts[i] = redis.call('ZCARD', key)
end
return counts
`

export function redisSfuRooms(link: RedisLink, now: () => number = Date.now): SfuRoomRegistry {
  const put = link.script('ringkitPutSfuRoom', PUT)
  const hold = link.script('ringkitHoldSfuRoom', HOLD)
  const take = link.script('ringkitTakeSfuRoom', TAKE)
  const loads = link.script('ringkitSfuLoads', LOADS)
  const roomKey = (callId: string) => `sfu:room:${callId}`
  const loadKey = (janusUrl: string) => `sfu:load:${janusUrl}`
  const parse = (json: unknown) => (typeof json === 'string' ? (JSON.parse(json) as SfuRoom) : undefined)
  return {
    async get(callId) {
      return parse(await link.run((r) => r.get(roomKey(callId))))
    },
    async put(callId, room) {
      const args = [JSON.stringify(room), CALL_STATE_TTL_MS, callId, now() + SFU_HOLD_MS]
      return parse(await put([roomKey(callId), loadKey(room.janusUrl)], args)) ?? room
    },
    async hold(callId, room) {
      const args = [JSON.stringify(room), CALL_STATE_TTL_MS, callId, now() + SFU_HOLD_MS]
      await hold([roomKey(callId), loadKey(room.janusUrl)], args)
    },
    async loads(urls) {
      const counts = urls.length === 0 ? [] : await loads(urls.map(loadKey), [now()])
      return new Map(urls.map((url, i) => [url, Number((counts as unknown[])[i] ?? 0)]))
    },
    async take(callId) {
      return parse(await take([roomKey(callId)], [`${link.prefix}sfu:load:`, callId]))
    },
  }
}
