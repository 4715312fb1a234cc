import type { CallRecord } from '@ringkit/protocol'
import type { CallState } from '../calls/types.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'
import { migrate } from './pg-migrate.ts'
import { eventCtes, eventRows, pgWebhooks, renumbering } from './pg-webhooks.ts'
import { pgPush } from './pg-push.ts'
import { endEvents } from '../webhooks/events.ts'
import { db as wrap, DEFAULT_PG_SCHEMA, openPool, quoteSchema, type Db, type PgOptions } from './pg-pool.ts'
import type { Account, AccountStore, App, AppStore, CallStore, RecordPage, Store } from './types.ts'

/** How many existing accounts `hasAccount` remembers. */
const KNOWN_ACCOUNTS_CACHE = 100_000

interface AccountRow {
  accid: string
  name: string
  avatar: string
  /** bigint columns arrive as strings: pg keeps every digit. */
  created_at: string
  updated_at: string
  tokens_valid_after: string
}

const toAccount = (r: AccountRow): Account => ({
  accid: r.accid,
  name: r.name,
  avatar: r.avatar,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  tokensValidAfter: Number(r.tokens_valid_after),
})

/** PostgreSQL refuses a NUL in text, and no key RingKit makes holds one: nothing can be stored under it. */
const storable = (...keys: string[]) => keys.every((k) => !k.includes('\u0000'))

/**
 * The store for several nodes: PostgreSQL through a pool, in a schema of RingKit's own that is
 * created and migrated on open. It keeps the semantics of the SQLite store: a record is written
 * in the same statement that ends its journal row, once (the call id is its primary key). When the
 * database cannot be reached, calls reject with STORE_UNAVAILABLE within a few seconds.
 */
export async function openPostgresStore(options: PgOptions): Promise<Store> {
  const s = quoteSchema(options.schema ?? DEFAULT_PG_SCHEMA)
  const pool = openPool(options)
  const db = wrap(pool)
  try {
    await migrate(db, options.schema ?? DEFAULT_PG_SCHEMA)
  } catch (error) {
    await pool.end()
    throw error
  }
  return {
    ...appStore(db, s),
    ...accountStore(db, s),
    ...callStore(db, s),
    ...pgWebhooks(db, s),
    ...pgPush(db, s),
    async close() {
      await pool.end()
    },
  }
}

/** `s` is the schema, quoted. */
function appStore(db: Db, s: string): AppStore {
  return {
    async getSetting(key) {
      const { rows } = await db.query<{ value: string }>(`SELECT value FROM ${s}.settings WHERE key = $1`, [key])
      return rows[0]?.value
    },
    async putSetting(key, value) {
      await db.query(
        `INSERT INTO ${s}.settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [key, value],
      )
    },
    async getApp(appKey) {
      if (!storable(appKey)) return undefined
      const { rows } = await db.query<{
        app_key: string
        app_secret: string
        name: string
        multi_device: boolean
        created_at: string
      }>(`SELECT * FROM ${s}.apps WHERE app_key = $1`, [appKey])
      const r = rows[0]
      return (
        r && {
          appKey: r.app_key,
          appSecret: r.app_secret,
          name: r.name,
          multiDevice: r.multi_device,
          createdAt: Number(r.created_at),
        }
      )
    },
    async putApp(app: App) {
      await db.query(
        `INSERT INTO ${s}.apps (app_key, app_secret, name, multi_device, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (app_key) DO UPDATE SET app_secret = excluded.app_secret, name = excluded.name,
         multi_device = excluded.multi_device`,
        [app.appKey, app.appSecret, app.name, app.multiDevice, app.createdAt],
      )
    },
  }
}

function accountStore(db: Db, s: string): AccountStore {
  const known = new Set<string>()
  const getAccount = async (appKey: string, accid: string) => {
    if (!storable(appKey, accid)) return undefined
    const { rows } = await db.query<AccountRow>(`SELECT * FROM ${s}.accounts WHERE app_key = $1 AND accid = $2`, [
      appKey,
      accid,
    ])
    return rows[0] && toAccount(rows[0])
  }

  return {
    async createAccount(appKey, input, now) {
      const { rows } = await db.query<AccountRow>(
        `INSERT INTO ${s}.accounts (app_key, accid, name, avatar, created_at, updated_at, tokens_valid_after)
         VALUES ($1, $2, $3, $4, $5, $5, 0) ON CONFLICT DO NOTHING RETURNING *`,
        [appKey, input.accid, input.name ?? '', input.avatar ?? '', now],
      )
      return rows[0] && toAccount(rows[0])
    },
    async updateAccount(appKey, accid, patch, now) {
      if (!storable(appKey, accid)) return undefined
      const { rows } = await db.query<AccountRow>(
        `UPDATE ${s}.accounts SET name = coalesce($1, name), avatar = coalesce($2, avatar), updated_at = $3
         WHERE app_key = $4 AND accid = $5 RETURNING *`,
        [patch.name ?? null, patch.avatar ?? null, now, appKey, accid],
      )
      return rows[0] && toAccount(rows[0])
    },
    getAccount,
    async hasAccount(appKey, accid) {
      const k = `${appKey}\u0000${accid}`
      if (known.has(k)) return true
      if (!(await getAccount(appKey, accid))) return false
      // Accounts are never deleted, so a sighting stays true; the cache is only bounded.
      if (known.size >= KNOWN_ACCOUNTS_CACHE) known.clear()
      known.add(k)
      return true
    },
    async revokeTokens(appKey, accid, now) {
      if (!storable(appKey, accid)) return false
      const { rowCount } = await db.query(
        `UPDATE ${s}.accounts SET tokens_valid_after = $1, updated_at = $1 WHERE app_key = $2 AND accid = $3`,
        [now, appKey, accid],
      )
      return rowCount === 1
    },
  }
}

function callStore(db: Db, s: string): CallStore {
  return {
    async journalCall(state: CallState, owner?: string, version?: number) {
      // Fenced on the live state's version: a write of an older state than the row's changes
      // nothing, and neither does one of a call whose record is written (its row ended with it).
      // A write naming no version, or over a row that has none, is the last writer's as before.
      const { rowCount } = await db.query(
        `INSERT INTO ${s}.call_journal (call_id, state, node_id, version)
         SELECT $1::text, $2::json, $3::text, $4::bigint WHERE NOT EXISTS (SELECT 1 FROM ${s}.call_records WHERE call_id = $1)
         ON CONFLICT (call_id) DO UPDATE SET state = excluded.state, node_id = excluded.node_id,
           version = excluded.version
         WHERE call_journal.version IS NULL OR excluded.version IS NULL OR call_journal.version < excluded.version`,
        [state.callId, JSON.stringify(state), owner ?? null, version ?? null],
      )
      return rowCount === 1
    },
    async finishCall(appKey, record) {
      // One statement, so one transaction: the journal row goes, the record, its parties and the
      // webhook events it makes come, or nothing happens. A second finish (another node, a retry)
      // finds the record and writes nothing.
      const events = { app: '$2::text', call: '$1::text', events: '$6', now: '$7::bigint' }
      const { rows } = await renumbering(async () =>
        db.query<{ written: string }>(
          `WITH unjournaled AS (DELETE FROM ${s}.call_journal WHERE call_id = $1),
           written AS (
             INSERT INTO ${s}.call_records (call_id, app_key, ended_at, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING call_id),
           parties AS (
             INSERT INTO ${s}.call_parties (app_key, accid, ended_at, call_id)
             SELECT $2, accid, $3, call_id FROM written, unnest($5::text[]) AS accid ON CONFLICT DO NOTHING),
           ${eventCtes(s, events, 'written')}
           SELECT count(*) AS written FROM written`,
          [
            record.callId,
            appKey,
            record.endedAt,
            JSON.stringify(record),
            [...new Set([record.caller, ...record.callees])],
            eventRows(endEvents(record)),
            Date.now(),
          ],
        ),
      )
      return rows[0]?.written === '1'
    },
    async listJournaledCalls() {
      const { rows } = await db.query<{ state: CallState }>(`SELECT state FROM ${s}.call_journal`)
      return rows.map((r) => r.state)
    },
    async listJournal() {
      const { rows } = await db.query<{ state: CallState; node_id: string | null }>(
        `SELECT state, node_id FROM ${s}.call_journal`,
      )
      return rows.map((r) => ({ state: r.state, owner: r.node_id ?? undefined }))
    },
    async getRecord(appKey, callId) {
      if (!storable(appKey, callId)) return undefined
      const { rows } = await db.query<{ record: CallRecord }>(
        `SELECT record FROM ${s}.call_records WHERE call_id = $1 AND app_key = $2`,
        [callId, appKey],
      )
      return rows[0]?.record
    },
    async listRecords(appKey, accid, { limit, cursor }): Promise<RecordPage> {
      const after = cursor === undefined ? { endedAt: Number.MAX_SAFE_INTEGER, callId: '' } : decodeCursor(cursor)
      if (!storable(appKey, accid)) return { records: [] }
      const { rows } = await db.query<{ record: CallRecord; ended_at: string; call_id: string }>(
        `SELECT r.record, r.ended_at, r.call_id FROM ${s}.call_parties p
         JOIN ${s}.call_records r ON r.call_id = p.call_id
         WHERE p.app_key = $1 AND p.accid = $2 AND (p.ended_at < $3 OR (p.ended_at = $3 AND p.call_id < $4))
         ORDER BY p.ended_at DESC, p.call_id DESC LIMIT $5`,
        [appKey, accid, after.endedAt, after.callId, limit + 1],
      )
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return {
        records: page.map((r) => r.record),
        ...(rows.length > limit && last ? { nextCursor: encodeCursor(Number(last.ended_at), last.call_id) } : {}),
      }
    },
  }
}
