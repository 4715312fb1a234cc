import type { ServerEvent } from '@ringkit/protocol'
import type { RingingSignals } from '../calls/ringing-signals.ts'
import type { RedisLink } from './redis.ts'

/**
 * The caller's negotiation while a call rings, shared by the nodes: `ring:{callId}` is a list of the
 * events as JSON, in the order kept, and `ring:{callId}:bytes` their size, both expiring a while
 * after the ringing deadline, so that a call whose node died keeps nothing for long.
 */

/** Past the deadline: any node fires a due deadline within a second or so, and the list goes then. */
const AFTER_DEADLINE_MS = 10_000

/** Appends ARGV[1] (ARGV[2] bytes) unless the call keeps ARGV[3] events or ARGV[4] bytes already. */
const KEEP = `
local count = redis.call('LLEN', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[2]) or '0')
if count >= tonumber(ARGV[3]) or bytes + tonumber(ARGV[2]) > tonumber(ARGV[4]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
return 1
`

export function redisRingingSignals(link: RedisLink, limits: { count: number; bytes: number }): RingingSignals {
  const keep = link.script('ringkitKeepRingingSignal', KEEP)
  const listKey = (callId: string) => `ring:${callId}`
  const bytesKey = (callId: string) => `ring:${callId}:bytes`
  return {
    async keep(callId, event, until) {
      const json = JSON.stringify(event)
      const args = [json, Buffer.byteLength(json), limits.count, limits.bytes, until + AFTER_DEADLINE_MS]
      await keep([listKey(callId), bytesKey(callId)], args)
    },
    async of(callId) {
      const kept = await link.run((r) => r.lrange(listKey(callId), 0, -1))
      return kept.map((json) => JSON.parse(json) as ServerEvent)
    },
    async drop(callId) {
      await link.run((r) => r.del(listKey(callId), bytesKey(callId)))
    },
    heldBytes: 0,
  }
}
