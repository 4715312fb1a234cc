import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type pg from 'pg'
import { CallEngine } from '../calls/CallEngine.ts'
import { memoryCallStateStore } from '../calls/ports.ts'
import { migrate } from './pg-migrate.ts'
import { db as wrap, DEFAULT_PG_SCHEMA, openPool, quoteSchema, type PgOptions } from './pg-pool.ts'
import { DATABASE_FILE, openSqliteStore } from './sqlite.ts'
import { ALIVE_SETTING } from './types.ts'

export interface CopyCount {
  copied: number
  /** Rows PostgreSQL had already (an earlier run, or the same key made there): left as they are. */
  present: number
}

export interface SqliteCopy {
  /** Calls the stopped SQLite server left live, ended (with their records) before the copy. */
  interrupted: number
  apps: CopyCount
  settings: CopyCount
  accounts: CopyCount
  records: CopyCount
  /** Webhook endpoints, with their secrets (events waiting for delivery are not copied). */
  webhooks: CopyCount
  /** Devices' Web Push subscriptions. */
  pushSubscriptions: CopyCount
  /** Settings PostgreSQL holds with another value than SQLite's, kept as PostgreSQL has them. */
  differing: string[]
}

/** Rows per INSERT: well under PostgreSQL's limits and its statement timeout. */
const BATCH = 500

interface Table {
  name: string
  columns: string[]
  /** The PostgreSQL type of each column; values travel as text and are cast. */
  types: string[]
  /** Instead of the plain cast, per column: an expression of the column's text. */
  casts?: Partial<Record<string, string>>
  select: string
}

const TABLES = {
  apps: {
    name: 'apps',
    columns: ['app_key', 'app_secret', 'name', 'multi_device', 'created_at'],
    types: ['text', 'text', 'text', 'boolean', 'bigint'],
    select: 'SELECT app_key, app_secret, name, multi_device <> 0, created_at FROM apps',
  },
  settings: {
    name: 'settings',
    columns: ['key', 'value'],
    types: ['text', 'text'],
    select: `SELECT key, value FROM settings WHERE key <> '${ALIVE_SETTING}'`,
  },
  accounts: {
    name: 'accounts',
    columns: ['app_key', 'accid', 'name', 'avatar', 'created_at', 'updated_at', 'tokens_valid_after'],
    types: ['text', 'text', 'text', 'text', 'bigint', 'bigint', 'bigint'],
    select: 'SELECT app_key, accid, name, avatar, created_at, updated_at, tokens_valid_after FROM accounts',
  },
  records: {
    name: 'call_records',
    columns: ['call_id', 'app_key', 'ended_at', 'record'],
    types: ['text', 'text', 'bigint', 'json'],
    select: 'SELECT call_id, app_key, ended_at, record FROM call_records',
  },
  webhooks: {
    name: 'webhook_endpoints',
    columns: ['id', 'app_key', 'url', 'events', 'secret', 'disabled', 'created_at'],
    types: ['text', 'text', 'text', 'text', 'text', 'boolean', 'bigint'],
    // SQLite keeps the event types as a JSON array, PostgreSQL as text[]; none (all types): 'null'.
    casts: {
      events: "CASE WHEN events = 'null' THEN NULL ELSE ARRAY(SELECT json_array_elements_text(events::json)) END",
    },
    select: `SELECT id, app_key, url, coalesce(events, 'null'), secret, disabled <> 0, created_at FROM webhook_endpoints`,
  },
  pushSubscriptions: {
    name: 'push_subscriptions',
    columns: ['app_key', 'accid', 'device_id', 'endpoint', 'p256dh', 'auth', 'lang', 'server', 'created_at'],
    types: ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'bigint'],
    select:
      'SELECT app_key, accid, device_id, endpoint, p256dh, auth, lang, server, created_at FROM push_subscriptions',
  },
  offline: {
    name: 'account_offline',
    columns: ['app_key', 'accid', 'offline_at'],
    types: ['text', 'text', 'bigint'],
    select: 'SELECT app_key, accid, offline_at FROM account_offline',
  },
  parties: {
    name: 'call_parties',
    columns: ['app_key', 'accid', 'ended_at', 'call_id'],
    types: ['text', 'text', 'bigint', 'text'],
    select: 'SELECT app_key, accid, ended_at, call_id FROM call_parties',
  },
} satisfies Record<string, Table>

/**
 * Copies what a stopped SQLite server kept (apps, settings, accounts, call records, webhook
 * endpoints, push subscriptions and offline marks) into
 * PostgreSQL, migrating the schema first. One transaction, and a row whose key is there already
 * is left alone, so running it again copies nothing twice. The node's own alive beat is not copied.
 *
 * Calls the SQLite server left journaled were cut by its shutdown. They are ended first, in the
 * SQLite database, exactly as that server's next start would have ended them (dated to its last
 * beat), and their records are copied with the rest. Copying the journal instead would leave them
 * to a PostgreSQL node, which would date them to its own start, possibly days later.
 */
export async function copySqliteToPostgres(dataDir: string, target: PgOptions): Promise<SqliteCopy> {
  const schema = target.schema ?? DEFAULT_PG_SCHEMA
  const s = quoteSchema(schema)
  const file = join(dataDir, DATABASE_FILE)
  if (!existsSync(file)) throw new Error(`no RingKit database in ${dataDir} (${DATABASE_FILE} is missing)`)
  let sqlite = openLocked(file, dataDir)
  const journaled = sqlite.prepare<[], { n: number }>('SELECT count(*) AS n FROM call_journal').get()?.n ?? 0
  let interrupted = 0
  if (journaled > 0) {
    sqlite.close()
    interrupted = await endInterruptedCalls(dataDir)
    sqlite = openLocked(file, dataDir)
  }
  const pool = openPool({ ...target, maxConnections: 1 })
  try {
    const db = wrap(pool)
    await migrate(db, schema)
    return await db.transaction(async (client) => {
      const copy = (table: Table) => copyTable(sqlite, client, s, table)
      const apps = await copy(TABLES.apps)
      const settings = await copy(TABLES.settings)
      const accounts = await copy(TABLES.accounts)
      const records = await copy(TABLES.records)
      await copy(TABLES.parties)
      const webhooks = await copy(TABLES.webhooks)
      const pushSubscriptions = await copy(TABLES.pushSubscriptions)
      await copy(TABLES.offline)
      const differing = await differingSettings(sqlite, client, s)
      return { interrupted, apps, settings, accounts, records, webhooks, pushSubscriptions, differing }
    })
  } finally {
    sqlite.close()
    await pool.end()
  }
}

/**
 * Opens the database holding its lock, so that no server writes meanwhile. In WAL mode the lock
 * is refused while any other connection has the database open: a server still running.
 */
function openLocked(file: string, dataDir: string): Database.Database {
  const db = new Database(file, { fileMustExist: true })
  try {
    db.pragma('busy_timeout = 0')
    db.pragma('locking_mode = EXCLUSIVE')
    db.exec('BEGIN EXCLUSIVE')
    return db
  } catch (error) {
    db.close()
    if ((error as { code?: unknown }).code !== 'SQLITE_BUSY') throw error
    throw new Error(`the SQLite database in ${dataDir} is in use: stop the RingKit server that uses it first`, {
      cause: error,
    })
  }
}

/** What the SQLite server's next start would do: end every journaled call with a record. */
async function endInterruptedCalls(dataDir: string): Promise<number> {
  const store = openSqliteStore(dataDir)
  try {
    const aliveAt = Number(await store.getSetting(ALIVE_SETTING))
    const engine = new CallEngine({
      store,
      calls: memoryCallStateStore(),
      // Nobody is connected to a stopped server: nothing to tell.
      delivery: { send: () => {}, onlineDevices: async () => [] },
    })
    const ended = await engine.recover(Number.isFinite(aliveAt) ? aliveAt : undefined)
    engine.close()
    return ended
  } finally {
    await store.close()
  }
}

async function copyTable(sqlite: Database.Database, client: pg.ClientBase, s: string, t: Table): Promise<CopyCount> {
  const casts = t.columns.map((c, i) => t.casts?.[c] ?? `${c}::${t.types[i]}`).join(', ')
  const arrays = t.columns.map((_, i) => `$${i + 1}::text[]`).join(', ')
  const insert = `INSERT INTO ${s}.${t.name} (${t.columns.join(', ')})
    SELECT ${casts} FROM unnest(${arrays}) AS t(${t.columns.join(', ')}) ON CONFLICT DO NOTHING`
  const count: CopyCount = { copied: 0, present: 0 }
  let batch: unknown[][] = []
  const flush = async () => {
    if (batch.length === 0) return
    const columns = t.columns.map((_, i) => batch.map((row) => String(row[i])))
    const { rowCount } = await client.query(insert, columns)
    count.copied += rowCount ?? 0
    count.present += batch.length - (rowCount ?? 0)
    batch = []
  }
  // SQLite's booleans come as 0 or 1 from the comparison in `select`.
  const rows = sqlite.prepare(t.select).raw().iterate() as IterableIterator<unknown[]>
  for (const row of rows) {
    batch.push(t.types.map((type, i) => (type === 'boolean' ? row[i] === 1 : row[i])))
    if (batch.length >= BATCH) await flush()
  }
  await flush()
  return count
}

async function differingSettings(sqlite: Database.Database, client: pg.ClientBase, s: string): Promise<string[]> {
  const ours = new Map(
    sqlite
      .prepare<[], { key: string; value: string }>(TABLES.settings.select)
      .all()
      .map((r) => [r.key, r.value]),
  )
  const { rows } = await client.query<{ key: string; value: string }>(
    `SELECT key, value FROM ${s}.settings WHERE key = ANY($1::text[])`,
    [[...ours.keys()]],
  )
  return rows.filter((r) => ours.get(r.key) !== r.value).map((r) => r.key)
}
