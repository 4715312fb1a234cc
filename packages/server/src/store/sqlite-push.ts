import type Database from 'better-sqlite3'
import type { PushStore, PushSubscriptionRecord } from './types.ts'

export const SQLITE_PUSH_SCHEMA = `
CREATE TABLE IF NOT EXISTS push_subscriptions (
  app_key TEXT NOT NULL, accid TEXT NOT NULL, device_id TEXT NOT NULL, endpoint TEXT NOT NULL,
  p256dh TEXT NOT NULL, auth TEXT NOT NULL, lang TEXT NOT NULL, server TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (app_key, accid, device_id));
CREATE INDEX IF NOT EXISTS push_subscriptions_endpoint ON push_subscriptions (endpoint);
CREATE TABLE IF NOT EXISTS account_offline (
  app_key TEXT NOT NULL, accid TEXT NOT NULL, offline_at INTEGER NOT NULL, PRIMARY KEY (app_key, accid));
`

interface SubscriptionRow {
  device_id: string
  endpoint: string
  p256dh: string
  auth: string
  lang: string
  server: string
  created_at: number | string
}

export const toSubscription = (r: SubscriptionRow): PushSubscriptionRecord => ({
  deviceId: r.device_id,
  endpoint: r.endpoint,
  p256dh: r.p256dh,
  auth: r.auth,
  lang: r.lang,
  server: r.server,
  createdAt: Number(r.created_at),
})

export function sqlitePush(db: Database.Database): PushStore {
  const q = {
    put: db.prepare(
      `INSERT INTO push_subscriptions (app_key, accid, device_id, endpoint, p256dh, auth, lang, server, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_key, accid, device_id) DO UPDATE SET
       endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth, lang = excluded.lang,
       server = excluded.server, created_at = excluded.created_at`,
    ),
    // One endpoint is one browser profile: a subscription moved to another device id is that device's now.
    dropElsewhere: db.prepare(
      'DELETE FROM push_subscriptions WHERE endpoint = ? AND NOT (app_key = ? AND accid = ? AND device_id = ?)',
    ),
    trim: db.prepare(
      `DELETE FROM push_subscriptions WHERE app_key = ? AND accid = ? AND device_id NOT IN (
         SELECT device_id FROM push_subscriptions WHERE app_key = ? AND accid = ? ORDER BY created_at DESC LIMIT ?)`,
    ),
    delete: db.prepare('DELETE FROM push_subscriptions WHERE app_key = ? AND accid = ? AND device_id = ?'),
    deleteAll: db.prepare('DELETE FROM push_subscriptions WHERE app_key = ? AND accid = ?'),
    drop: db.prepare('DELETE FROM push_subscriptions WHERE endpoint = ?'),
    list: db.prepare<[string, string], SubscriptionRow>(
      'SELECT * FROM push_subscriptions WHERE app_key = ? AND accid = ? ORDER BY created_at',
    ),
    markOffline: db.prepare(
      `INSERT INTO account_offline (app_key, accid, offline_at) VALUES (?, ?, ?)
       ON CONFLICT (app_key, accid) DO UPDATE SET offline_at = max(offline_at, excluded.offline_at)`,
    ),
    offlineSince: db.prepare<[string, string], { offline_at: number }>(
      'SELECT offline_at FROM account_offline WHERE app_key = ? AND accid = ?',
    ),
    claimSetting: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
    getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
  }
  const put = db.transaction((appKey: string, accid: string, s: PushSubscriptionRecord, max: number) => {
    q.dropElsewhere.run(s.endpoint, appKey, accid, s.deviceId)
    q.put.run(appKey, accid, s.deviceId, s.endpoint, s.p256dh, s.auth, s.lang, s.server, s.createdAt)
    q.trim.run(appKey, accid, appKey, accid, max)
  })
  return {
    async putPushSubscription(appKey, accid, sub, max) {
      put(appKey, accid, sub, max)
    },
    async deletePushSubscription(appKey, accid, deviceId) {
      if (deviceId === undefined) q.deleteAll.run(appKey, accid)
      else q.delete.run(appKey, accid, deviceId)
    },
    async dropPushEndpoint(endpoint) {
      q.drop.run(endpoint)
    },
    async listPushSubscriptions(appKey, accid) {
      return q.list.all(appKey, accid).map(toSubscription)
    },
    async markOffline(appKey, accid, at) {
      q.markOffline.run(appKey, accid, at)
    },
    async offlineSince(appKey, accid) {
      return q.offlineSince.get(appKey, accid)?.offline_at
    },
    async claimSetting(key, value) {
      q.claimSetting.run(key, value)
      return q.getSetting.get(key)?.value ?? value
    },
  }
}
