import Database from 'better-sqlite3'
import type { Account, App } from './types.ts'

/**
 * The journal and the parties index are keys and little else: WITHOUT ROWID keeps each in one
 * b-tree instead of a table plus an index, so a call writes about half the pages to the log. Files
 * made before keep their layout; the statements are the same for both.
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

/** One page of history as stored: the record's JSON, and the key the next page starts after. */
export interface RecordRow {
  record: string
  ended_at: number
  call_id: string
}

/** A record as `finishCall` stores it: JSON made once by the caller, plus the columns it is found by. */
export interface StoredRecord {
  callId: string
  endedAt: number
  /** Caller and callees, each once. */
  parties: string[]
  json: string
}

/**
 * Opens the database file and prepares every statement. Only the store's own thread calls this: each
 * statement is synchronous and may wait on the disk. Every value in and out is structured-cloneable.
 */
export function openDatabase(file: string) {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  // NORMAL in WAL mode keeps the database consistent through a process crash; only power loss can
  // drop the last transactions.
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  // Checkpoints fsync the disk, which takes milliseconds: the checkpointer thread runs them on its
  // own connection, so that queued writes never wait behind one.
  db.pragma('wal_autocheckpoint = 0')
  // A log that grew under steady load is cut back to this when it starts over.
  db.pragma('journal_size_limit = 67108864')
  db.exec(SCHEMA)

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
    hasAccount: db.prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM accounts WHERE app_key = ? AND accid = ?',
    ),
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
    listRecords: db.prepare<[string, string, number, number, string, number], RecordRow>(
      `SELECT r.record, r.ended_at, r.call_id FROM call_parties p JOIN call_records r ON r.call_id = p.call_id
       WHERE p.app_key = ? AND p.accid = ? AND (p.ended_at < ? OR (p.ended_at = ? AND p.call_id < ?))
       ORDER BY p.ended_at DESC, p.call_id DESC LIMIT ?`,
    ),
  }

  const ops = {
    getSetting: (key: string): string | undefined => q.getSetting.get(key)?.value,
    putSetting: (key: string, value: string): void => void q.putSetting.run(key, value),
    getApp: (appKey: string): App | undefined => {
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
    putApp: (app: App): void =>
      void q.putApp.run(app.appKey, app.appSecret, app.name, app.multiDevice ? 1 : 0, app.createdAt),
    createAccount: (appKey: string, accid: string, name: string, avatar: string, now: number): Account | undefined => {
      const changes = q.createAccount.run(appKey, accid, name, avatar, now, now).changes
      return changes === 1 ? toAccount(q.getAccount.get(appKey, accid)!) : undefined
    },
    updateAccount: (
      appKey: string,
      accid: string,
      name: string | null,
      avatar: string | null,
      now: number,
    ): Account | undefined => {
      q.updateAccount.run(name, avatar, now, appKey, accid)
      const row = q.getAccount.get(appKey, accid)
      return row && toAccount(row)
    },
    getAccount: (appKey: string, accid: string): Account | undefined => {
      const row = q.getAccount.get(appKey, accid)
      return row && toAccount(row)
    },
    hasAccount: (appKey: string, accid: string): boolean => q.hasAccount.get(appKey, accid) !== undefined,
    revokeTokens: (appKey: string, accid: string, now: number): boolean =>
      q.revoke.run(now, now, appKey, accid).changes === 1,
    journalCall: (callId: string, stateJson: string): void => void q.journal.run(callId, stateJson),
    /**
     * Removes the journal entry and writes the record; false, writing nothing new, when the record
     * exists. The thread runs each op in a transaction (a savepoint in its batch), so both or neither
     * are written.
     */
    finishCall: (appKey: string, r: StoredRecord): boolean => {
      q.unjournal.run(r.callId)
      if (q.insertRecord.run(r.callId, appKey, r.endedAt, r.json).changes !== 1) return false
      for (const accid of r.parties) q.insertParty.run(appKey, accid, r.endedAt, r.callId)
      return true
    },
    listJournaledCalls: (): string[] => q.listJournal.all().map((r) => r.state),
    getRecord: (appKey: string, callId: string): string | undefined => q.getRecord.get(callId, appKey)?.record,
    listRecords: (appKey: string, accid: string, endedAt: number, callId: string, limit: number): RecordRow[] =>
      q.listRecords.all(appKey, accid, endedAt, endedAt, callId, limit),
  }
  return { db, ops }
}

export type SqliteOps = ReturnType<typeof openDatabase>['ops']
export type SqliteOp = keyof SqliteOps
