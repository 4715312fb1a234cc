import type { Db } from './pg-pool.ts'
import { toSubscription } from './sqlite-push.ts'
import type { PushStore } from './types.ts'

/** Web Push subscriptions and offline marks in PostgreSQL; `s` is the schema, quoted. */
export function pgPush(db: Db, s: string): PushStore {
  return {
    async putPushSubscription(appKey, accid, sub, max) {
      await db.transaction(async (client) => {
        // One endpoint is one browser profile: a subscription moved to another device id is that device's now.
        await client.query(
          `DELETE FROM ${s}.push_subscriptions WHERE endpoint = $1
           AND NOT (app_key = $2 AND accid = $3 AND device_id = $4)`,
          [sub.endpoint, appKey, accid, sub.deviceId],
        )
        await client.query(
          `INSERT INTO ${s}.push_subscriptions (app_key, accid, device_id, endpoint, p256dh, auth, lang, server, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (app_key, accid, device_id) DO UPDATE SET
           endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth, lang = excluded.lang,
           server = excluded.server, created_at = excluded.created_at`,
          [appKey, accid, sub.deviceId, sub.endpoint, sub.p256dh, sub.auth, sub.lang, sub.server, sub.createdAt],
        )
        await client.query(
          `DELETE FROM ${s}.push_subscriptions WHERE app_key = $1 AND accid = $2 AND device_id NOT IN (
             SELECT device_id FROM ${s}.push_subscriptions WHERE app_key = $1 AND accid = $2
             ORDER BY created_at DESC LIMIT $3)`,
          [appKey, accid, max],
        )
      })
    },
    async deletePushSubscription(appKey, accid, deviceId) {
      await db.query(
        `DELETE FROM ${s}.push_subscriptions WHERE app_key = $1 AND accid = $2 AND ($3::text IS NULL OR device_id = $3)`,
        [appKey, accid, deviceId ?? null],
      )
    },
    async dropPushEndpoint(endpoint) {
      await db.query(`DELETE FROM ${s}.push_subscriptions WHERE endpoint = $1`, [endpoint])
    },
    async listPushSubscriptions(appKey, accid) {
      const { rows } = await db.query<Parameters<typeof toSubscription>[0]>(
        `SELECT * FROM ${s}.push_subscriptions WHERE app_key = $1 AND accid = $2 ORDER BY created_at`,
        [appKey, accid],
      )
      return rows.map(toSubscription)
    },
    async markOffline(appKey, accid, at) {
      await db.query(
        `INSERT INTO ${s}.account_offline (app_key, accid, offline_at) VALUES ($1, $2, $3)
         ON CONFLICT (app_key, accid) DO UPDATE SET offline_at = greatest(account_offline.offline_at, excluded.offline_at)`,
        [appKey, accid, at],
      )
    },
    async offlineSince(appKey, accid) {
      const { rows } = await db.query<{ offline_at: string }>(
        `SELECT offline_at FROM ${s}.account_offline WHERE app_key = $1 AND accid = $2`,
        [appKey, accid],
      )
      return rows[0] ? Number(rows[0].offline_at) : undefined
    },
    async claimSetting(key, value) {
      // DO UPDATE, not DO NOTHING: a writer that waited on another's insert then returns the row that
      // one committed, where a SELECT in the same statement would still see none.
      const { rows } = await db.query<{ value: string }>(
        `INSERT INTO ${s}.settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = settings.value RETURNING value`,
        [key, value],
      )
      const kept = rows[0]?.value
      if (kept === undefined) throw new Error(`the setting ${key} was neither written nor found`)
      return kept
    },
  }
}
