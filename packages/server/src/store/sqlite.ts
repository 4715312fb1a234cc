import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { RingKitError, type CallRecord } from '@ringkit/protocol'
import type { CallState } from '../calls/types.ts'
import type { SqliteOp, SqliteOps } from './sqlite-db.ts'
import { storeThreads } from './threads.ts'
import type { RecordPage, Store } from './types.ts'

/** How many existing accounts `hasAccount` remembers. */
const KNOWN_ACCOUNTS_CACHE = 100_000

let handles = 0

/**
 * The embedded store: one SQLite file in the data dir, WAL mode. Statements run on a thread of
 * their own (see sqlite-worker.ts), never on the caller's event loop; what arrives in one turn of
 * that thread is committed as one transaction, and each promise settles after its commit. A write
 * that resolved is in the log, so it survives a crash of the process, as a synchronous write did.
 */
export function openSqliteStore(dataDir: string): Store {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'ringkit.db')
  const { writer, checkpointer } = storeThreads()
  const db = ++handles
  // Ops sent from here on run after the open: the thread takes messages in order.
  const opened = writer.request({ type: 'open', db, file })
  // The checkpointer attaches once the writer made the file a WAL database. Should it fail, ops
  // still work; the log is then checkpointed by the writer.
  const watched = opened.then(
    () => checkpointer.request({ type: 'open', db, file }).catch((error: unknown) => writer.fallBack(error)),
    () => undefined,
  )
  const call = <K extends SqliteOp>(op: K, ...args: Parameters<SqliteOps[K]>) =>
    writer.request({ type: 'op', db, op, args }) as Promise<ReturnType<SqliteOps[K]>>

  const known = new Set<string>()
  return {
    getSetting: (key) => call('getSetting', key),
    putSetting: (key, value) => call('putSetting', key, value),
    getApp: (appKey) => call('getApp', appKey),
    putApp: (app) => call('putApp', app),
    createAccount: (appKey, input, now) =>
      call('createAccount', appKey, input.accid, input.name ?? '', input.avatar ?? '', now),
    updateAccount: (appKey, accid, patch, now) =>
      call('updateAccount', appKey, accid, patch.name ?? null, patch.avatar ?? null, now),
    getAccount: (appKey, accid) => call('getAccount', appKey, accid),
    async hasAccount(appKey, accid) {
      const k = `${appKey}\u0000${accid}`
      if (known.has(k)) return true
      if (!(await call('hasAccount', appKey, accid))) return false
      // Accounts are never deleted, so a sighting stays true; the cache is only bounded.
      if (known.size >= KNOWN_ACCOUNTS_CACHE) known.clear()
      known.add(k)
      return true
    },
    revokeTokens: (appKey, accid, now) => call('revokeTokens', appKey, accid, now),
    journalCall: (state: CallState) => call('journalCall', state.callId, JSON.stringify(state)),
    finishCall: (appKey, record: CallRecord) =>
      call('finishCall', appKey, {
        callId: record.callId,
        endedAt: record.endedAt,
        parties: [...new Set([record.caller, ...record.callees])],
        json: JSON.stringify(record),
      }),
    async listJournaledCalls() {
      return (await call('listJournaledCalls')).map((json) => JSON.parse(json) as CallState)
    },
    async getRecord(appKey, callId) {
      const json = await call('getRecord', appKey, callId)
      return json === undefined ? undefined : (JSON.parse(json) as CallRecord)
    },
    async listRecords(appKey, accid, { limit, cursor }): Promise<RecordPage> {
      const after = cursor === undefined ? { endedAt: Number.MAX_SAFE_INTEGER, callId: '' } : decodeCursor(cursor)
      const rows = await call('listRecords', appKey, accid, after.endedAt, after.callId, limit + 1)
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return {
        records: page.map((r) => JSON.parse(r.record) as CallRecord),
        ...(rows.length > limit && last ? { nextCursor: encodeCursor(last.ended_at, last.call_id) } : {}),
      }
    },
    async close() {
      // The checkpointer lets go first, so the writer's connection is the last one and its close
      // checkpoints the whole log into the database file.
      await watched
      await checkpointer.request({ type: 'close', db }).catch(() => undefined)
      await writer.request({ type: 'close', db })
    },
  }
}

export function encodeCursor(endedAt: number, callId: string): string {
  return Buffer.from(`${endedAt}:${callId}`).toString('base64url')
}

export function decodeCursor(cursor: string): { endedAt: number; callId: string } {
  const text = Buffer.from(cursor, 'base64url').toString()
  const colon = text.indexOf(':')
  const endedAt = Number(text.slice(0, colon))
  if (colon < 1 || !Number.isSafeInteger(endedAt)) throw new RingKitError('INVALID_PARAMS', 'cursor is not valid')
  return { endedAt, callId: text.slice(colon + 1) }
}
