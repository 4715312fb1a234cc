import type { CallRecord } from '@ringkit/protocol'
import type { SharedSpool, Spooled } from '../store/record-spool.ts'
import type { RedisLink } from './redis.ts'

/** The hash of spooled records: field `{appKey}\0{callId}`, value the record and its app as JSON. */
const SPOOLED_RECORDS = 'spooled-records'

/**
 * The cluster's copy of the records spooled through a PostgreSQL outage, so that any node can
 * write a record whose node died before it could (see `withRecordSpool`). A record stays until
 * it is in PostgreSQL; as long as Redis keeps its data (AOF or RDB), so does this.
 */
export function redisSharedSpool(link: RedisLink): SharedSpool {
  const field = (appKey: string, callId: string) => `${appKey}\u0000${callId}`
  return {
    async keep(appKey: string, record: CallRecord) {
      const spooled: Spooled = { appKey, record }
      await link.run((r) => r.hset(SPOOLED_RECORDS, field(appKey, record.callId), JSON.stringify(spooled)))
    },
    async drop(appKey: string, callId: string) {
      await link.run((r) => r.hdel(SPOOLED_RECORDS, field(appKey, callId)))
    },
    async all() {
      const kept = await link.run((r) => r.hvals(SPOOLED_RECORDS))
      return kept.map((json) => JSON.parse(json) as Spooled)
    },
  }
}
