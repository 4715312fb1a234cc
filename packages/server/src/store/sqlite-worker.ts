/**
 * The threads behind the SQLite store. better-sqlite3 is synchronous and a statement can wait on the
 * disk for milliseconds; on the server's event loop that wait stalls every socket. Here it stalls no
 * one: the writer thread runs every statement, and the checkpointer thread, on a connection of its
 * own, runs the checkpoints (the only step that fsyncs), so that writes never queue behind one.
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { openDatabase, type SqliteOp } from './sqlite-db.ts'

export type ThreadRole = 'writer' | 'checkpointer'

export type ToThread =
  | { type: 'open'; db: number; id: number; file: string }
  | { type: 'op'; db: number; id: number; op: SqliteOp; args: unknown[] }
  | { type: 'close'; db: number; id: number }
  /** The checkpointer is gone: the writer checkpoints by itself again, stalls and all. */
  | { type: 'autocheckpoint' }

export interface ThreadError {
  message: string
  code?: string
}
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ThreadError }

/** How often the checkpointer copies the write-ahead log into the database file. */
const CHECKPOINT_EVERY_MS = 200
/**
 * A passive checkpoint never holds writers up, but under steady writes it never catches up with the
 * log's end either, so the log file only grows. Past this many frames (4 KB each) a RESTART
 * checkpoint holds writers for one checkpoint and lets the log start over.
 */
const RESTART_AFTER_FRAMES = 16_384

const port = parentPort!
const role = workerData as ThreadRole
const threadError = (error: unknown): ThreadError => {
  const code = (error as { code?: unknown } | null)?.code
  return {
    message: error instanceof Error ? error.message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
  }
}

if (role === 'writer') runWriter()
else runCheckpointer()

function runWriter(): void {
  interface Handle {
    db: Database.Database
    /** One op as a transaction; inside a batch, a savepoint that rolls back alone when it throws. */
    one: (op: SqliteOp, args: unknown[]) => unknown
    batch: (items: { id: number; op: SqliteOp; args: unknown[] }[]) => Reply[]
  }
  const handles = new Map<number, Handle | { error: ThreadError }>()
  let queue: Exclude<ToThread, { type: 'autocheckpoint' }>[] = []

  const open = (file: string): Handle => {
    const { db, ops } = openDatabase(file)
    const one = db.transaction((op: SqliteOp, args: unknown[]) => {
      const fn: (...args: never[]) => unknown = ops[op]
      return fn(...(args as never[]))
    })
    const batch = db.transaction((items: { id: number; op: SqliteOp; args: unknown[] }[]) =>
      items.map((item): Reply => {
        try {
          return { id: item.id, ok: true, value: one(item.op, item.args) }
        } catch (error) {
          return { id: item.id, ok: false, error: threadError(error) }
        }
      }),
    )
    return { db, one, batch }
  }

  /**
   * Runs what arrived since the last flush, each database's ops in one transaction: one commit (one
   * write to the log) for the lot instead of one per op. Each op's promise settles after the commit.
   */
  const flush = () => {
    const messages = queue
    queue = []
    const replies: Reply[] = []
    let run: { db: number; items: { id: number; op: SqliteOp; args: unknown[] }[] } | undefined
    const commit = () => {
      if (!run) return
      const handle = handles.get(run.db)
      const items = run.items
      run = undefined
      if (!handle || 'error' in handle) {
        const error = handle?.error ?? { message: 'the store is closed' }
        for (const { id } of items) replies.push({ id, ok: false, error })
        return
      }
      try {
        replies.push(...handle.batch(items))
      } catch (error) {
        // The commit failed: nothing of the batch was written.
        for (const { id } of items) replies.push({ id, ok: false, error: threadError(error) })
      }
    }
    for (const m of messages) {
      if (m.type === 'op') {
        if (run && run.db !== m.db) commit()
        run ??= { db: m.db, items: [] }
        run.items.push({ id: m.id, op: m.op, args: m.args })
        continue
      }
      commit()
      if (m.type === 'open') {
        try {
          handles.set(m.db, open(m.file))
          replies.push({ id: m.id, ok: true, value: undefined })
        } catch (error) {
          handles.set(m.db, { error: threadError(error) })
          replies.push({ id: m.id, ok: false, error: threadError(error) })
        }
      } else {
        const handle = handles.get(m.db)
        handles.delete(m.db)
        if (handle && !('error' in handle)) handle.db.close()
        replies.push({ id: m.id, ok: true, value: undefined })
      }
    }
    commit()
    port.postMessage(replies)
  }

  port.on('message', (m: ToThread) => {
    if (m.type === 'autocheckpoint') {
      for (const handle of handles.values()) if (!('error' in handle)) handle.db.pragma('wal_autocheckpoint = 1000')
      return
    }
    queue.push(m)
    if (queue.length === 1) setImmediate(flush)
  })
}

function runCheckpointer(): void {
  const dbs = new Map<number, Database.Database>()
  const checkpoint = () => {
    for (const db of dbs.values()) {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[]
      if (result && result.log > RESTART_AFTER_FRAMES) db.pragma('wal_checkpoint(RESTART)')
    }
  }
  const timer = setInterval(checkpoint, CHECKPOINT_EVERY_MS)
  port.on('message', (m: ToThread) => {
    if (m.type !== 'open' && m.type !== 'close') return
    try {
      if (m.type === 'open') {
        const db = new Database(m.file, { fileMustExist: true })
        db.pragma('busy_timeout = 5000')
        dbs.set(m.db, db)
      } else {
        dbs.get(m.db)?.close()
        dbs.delete(m.db)
      }
      port.postMessage([{ id: m.id, ok: true, value: undefined }] satisfies Reply[])
    } catch (error) {
      port.postMessage([{ id: m.id, ok: false, error: threadError(error) }] satisfies Reply[])
    }
  })
  // Nothing but these messages keeps the thread busy; the main thread decides when it may exit.
  timer.unref()
  port.ref()
}
