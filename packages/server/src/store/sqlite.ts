import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { CallRecord } from '@ringkit/protocol'
import { checkpointInBackground } from './checkpoints.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'
import { makePrivateDir, makePrivateFile } from './private-files.ts'
import { SQLITE_WEBHOOK_SCHEMA, sqliteWebhooks } from './sqlite-webhooks.ts'
import { SQLITE_PUSH_SCHEMA, sqlitePush } from './sqlite-push.ts'
import { endEvents } from '../webhooks/events.ts'
import type { CallState } from '../calls/types.ts'
import type { Account, AccountPatch, App, RecordPage, Store } from './types.ts'

/**
 * The journal and the parties index are keys and little else: WITHOUT ROWID keeps each in one
 * b-tree instead of a table plus an index, so a call writes about a third fewer pages to the log.
 * Files made before keep their layout; the statements are the same for both.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
  app_key TEXT PRIMARY KEY, app_secret TEXT NOT NULL, name TEXT NOT NULL,
  multi_device INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  app_key TEXT NOT NULL, accid TEXT NOT NULL, name TEXT NOT NULL, avatar TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, tokens_valid_after INTEGER NOT NULL,
  PRIMARY KEY (app_key, accid));
CREATE TABLE IF NOT EXISTS call_journal (call_id TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS call_records (
  call_id TEXT PRIMARY KEY, app_key TEXT NOT NULL, ended_at INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS call_parties (
  app_key TEXT NOT NULL, accid TEXT NOT NULL, ended_at INTEGER NOT NULL, call_id TEXT NOT NULL,
  PRIMARY KEY (app_key, accid, ended_at, call_id)) WITHOUT ROWID;
`

export const DATABASE_FILE = 'ringkit.db'
/** How many existing accounts `hasAccount` remembers. */
const KNOWN_ACCOUNTS_CACHE = 100_000

interface AccountRow {
  accid: string
  name: string
  avatar: string
  created_at: number
  updated_at: number
  tokens_valid_after: number
}

const toAccount = (r: AccountRow): Account => ({
  accid: r.accid,
  name: r.name,
  avatar: r.avatar,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  tokensValidAfter: r.tokens_valid_after,
})

/**
 * The embedded store: one SQLite file in the data dir, WAL mode, synchronous statements. A commit
 * only appends to the log (no fsync); checkpoints, which fsync, run on a thread of their own.
 */
export function openSqliteStore(dataDir: string): Store {
  makePrivateDir(dataDir, [DATABASE_FILE])
  const file = join(dataDir, DATABASE_FILE)
  makePrivateFile(file)
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  // NORMAL in WAL mode keeps the database consistent through a process crash; only power loss can
  // drop the last transactions.
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  db.exec(SCHEMA)
  db.exec(SQLITE_WEBHOOK_SCHEMA)
  db.exec(SQLITE_PUSH_SCHEMA)
  // SQLite would checkpoint inside a commit every 1,000 log pages: an fsync on the event loop.
  db.pragma('wal_autocheckpoint = 0')
  /** While the checkpointer lets the log start over, statements wait here, in order, off the event loop. */
  let held: { until: Promise<void>; release: () => void } | undefined
  const checkpoints = checkpointInBackground(file, {
    hold() {
      let release = () => {}
      held = { until: new Promise<void>((resolve) => (release = resolve)), release }
    },
    release() {
      const h = held
      held = undefined
      h?.release()
    },
    fallBack() {
      // The checkpointer is gone: checkpoint here again, stalls and all, rather than grow the log forever.
      if (db.open) db.pragma('wal_autocheckpoint = 1000')
    },
  })

  const q = {
    getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
    putSetting: db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
    getApp: db.prepare<
      [string],
      { app_key: string; app_secret: string; name: string; multi_device: number; created_at: number }
    >('SELECT * FROM apps WHERE app_key = ?'),
    putApp: db.prepare(
      `INSERT INTO apps (app_key, app_secret, name, multi_device, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(app_key) DO UPDATE SET app_secret = excluded.app_secret, name = excluded.name,
       multi_device = excluded.multi_device`,
    ),
    createAccount: db.prepare(
      `INSERT INTO accounts (app_key, accid, name, avatar, created_at, updated_at, tokens_valid_after)
       VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING`,
    ),
    getAccount: db.prepare<[string, string], AccountRow>('SELECT * FROM accounts WHERE app_key = ? AND accid = ?'),
    updateAccount: db.prepare(
      `UPDATE accounts SET name = coalesce(?, name), avatar = coalesce(?, avatar), updated_at = ?
       WHERE app_key = ? AND accid = ?`,
    ),
    revoke: db.prepare('UPDATE accounts SET tokens_valid_after = ?, updated_at = ? WHERE app_key = ? AND accid = ?'),
    journal: db.prepare(
      'INSERT INTO call_journal (call_id, state) VALUES (?, ?) ON CONFLICT(call_id) DO UPDATE SET state = excluded.state',
    ),
    unjournal: db.prepare('DELETE FROM call_journal WHERE call_id = ?'),
    listJournal: db.prepare<[], { state: string }>('SELECT state FROM call_journal'),
    insertRecord: db.prepare(
      'INSERT INTO call_records (call_id, app_key, ended_at, record) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    insertParty: db.prepare(
      'INSERT INTO call_parties (app_key, accid, ended_at, call_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    getRecord: db.prepare<[string, string], { record: string }>(
      'SELECT record FROM call_records WHERE call_id = ? AND app_key = ?',
    ),
    listRecords: db.prepare<
      [string, string, number, number, string, number],
      { record: string; ended_at: number; call_id: string }
    >(
      `SELECT r.record, r.ended_at, r.call_id FROM call_parties p JOIN call_records r ON r.call_id = p.call_id
       WHERE p.app_key = ? AND p.accid = ? AND (p.ended_at < ? OR (p.ended_at = ? AND p.call_id < ?))
       ORDER BY p.ended_at DESC, p.call_id DESC LIMIT ?`,
    ),
  }

  const known = new Set<string>()
  const { addEvents, ...webhooks } = sqliteWebhooks(db)
  const finish = db.transaction((appKey: string, record: CallRecord): boolean => {
    q.unjournal.run(record.callId)
    const inserted = q.insertRecord.run(record.callId, appKey, record.endedAt, JSON.stringify(record)).changes === 1
    if (inserted) {
      for (const accid of new Set([record.caller, ...record.callees])) {
        q.insertParty.run(appKey, accid, record.endedAt, record.callId)
      }
      addEvents(appKey, record.callId, endEvents(record), Date.now())
    }
    return inserted
  })

  return afterHolds(() => held?.until, {
    ...webhooks,
    ...sqlitePush(db),
    async getSetting(key) {
      return q.getSetting.get(key)?.value
    },
    async putSetting(key, value) {
      q.putSetting.run(key, value)
    },
    async getApp(appKey) {
      const r = q.getApp.get(appKey)
      return (
        r && {
          appKey: r.app_key,
          appSecret: r.app_secret,
          name: r.name,
          multiDevice: r.multi_device === 1,
          createdAt: r.created_at,
        }
      )
    },
    async putApp(app: App) {
      q.putApp.run(app.appKey, app.appSecret, app.name, app.multiDevice ? 1 : 0, app.createdAt)
    },
    async createAccount(appKey, input, now) {
      const changes = q.createAccount.run(appKey, input.accid, input.name ?? '', input.avatar ?? '', now, now).changes
      return changes === 1 ? toAccount(q.getAccount.get(appKey, input.accid)!) : undefined
    },
    async updateAccount(appKey, accid, patch: AccountPatch, now) {
      q.updateAccount.run(patch.name ?? null, patch.avatar ?? null, now, appKey, accid)
      const row = q.getAccount.get(appKey, accid)
      return row && toAccount(row)
    },
    async getAccount(appKey, accid) {
      const row = q.getAccount.get(appKey, accid)
      return row && toAccount(row)
    },
    async hasAccount(appKey, accid) {
      const k = `${appKey}\u0000${accid}`
      if (known.has(k)) return true
      if (!q.getAccount.get(appKey, accid)) return false
      // Accounts are never deleted, so a sighting stays true; the cache is only bounded.
      if (known.size >= KNOWN_ACCOUNTS_CACHE) known.clear()
      known.add(k)
      return true
    },
    async revokeTokens(appKey, accid, now) {
      return q.revoke.run(now, now, appKey, accid).changes === 1
    },
    async journalCall(state: CallState) {
      q.journal.run(state.callId, JSON.stringify(state))
      return true
    },
    async finishCall(appKey, record) {
      return finish(appKey, record)
    },
    async listJournaledCalls() {
      return q.listJournal.all().map((r) => JSON.parse(r.state) as CallState)
    },
    // One node: every journaled call is its own, so no owner is kept.
    async listJournal() {
      return q.listJournal.all().map((r) => ({ state: JSON.parse(r.state) as CallState, owner: undefined }))
    },
    async getRecord(appKey, callId) {
      const row = q.getRecord.get(callId, appKey)
      return row && (JSON.parse(row.record) as CallRecord)
    },
    async listRecords(appKey, accid, { limit, cursor }): Promise<RecordPage> {
      const after = cursor === undefined ? { endedAt: Number.MAX_SAFE_INTEGER, callId: '' } : decodeCursor(cursor)
      const rows = q.listRecords.all(appKey, accid, after.endedAt, after.endedAt, after.callId, limit + 1)
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return {
        records: page.map((r) => JSON.parse(r.record) as CallRecord),
        ...(rows.length > limit && last ? { nextCursor: encodeCursor(last.ended_at, last.call_id) } : {}),
      }
    },
    async close() {
      // The checkpointer lets go first: the last connection to close checkpoints the whole log.
      await checkpoints.detach()
      db.close()
    },
  })
}

/** Every method of `store` first waits out a hold, if one is on; without one it runs at once. */
function afterHolds(holding: () => Promise<void> | undefined, store: Store): Store {
  const gated = Object.entries(store).map(([name, method]: [string, (...args: unknown[]) => Promise<unknown>]) => [
    name,
    (...args: unknown[]) => {
      const hold = holding()
      return hold ? hold.then(() => method(...args)) : method(...args)
    },
  ])
  return Object.fromEntries(gated) as unknown as Store
}
