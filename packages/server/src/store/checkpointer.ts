/**
 * The checkpointer thread. A checkpoint copies the write-ahead log into the database file and
 * fsyncs it, which takes milliseconds on a slow disk. SQLite runs it by default inside whichever
 * commit crosses 1,000 log pages, that is on the server's event loop every few hundred calls,
 * stalling every socket meanwhile. Here it runs on a connection of its own, on this thread, while
 * the event loop keeps writing to the log.
 */
import { parentPort } from 'node:worker_threads'
import Database from 'better-sqlite3'

export type ToCheckpointer =
  | { type: 'watch'; id: number; file: string }
  | { type: 'unwatch'; id: number }
  /** The store holds its statements back until `release`: the log may start over. */
  | { type: 'held'; id: number }

export type FromCheckpointer =
  | { id: number; kind: 'reply'; error?: string }
  /** Checkpoints of this file failed and stopped. */
  | { id: number; kind: 'failed'; error: string }
  /** Asks the store to hold its statements back for a moment, and say `held`. */
  | { id: number; kind: 'hold' }
  | { id: number; kind: 'release' }

/** How often the log is copied into the database file. */
const CHECKPOINT_EVERY_MS = 200
/**
 * A passive checkpoint never holds the writer up, but under steady writes it never reaches the
 * log's end either (writes land while it fsyncs), so the log never starts over and only grows.
 * Past this many pages (4 KB each; 128 MB, about 4 s of 1,000 calls/s), the store holds its
 * statements back (queued, off the event loop) for the few milliseconds one last checkpoint takes
 * to reach the end, and the log starts over from its beginning. The file keeps its size.
 */
const RESTART_AFTER_PAGES = 32_768

const port = parentPort!
const watched = new Map<number, { db: Database.Database; holding: boolean }>()
const send = (message: FromCheckpointer) => port.postMessage(message)

function fail(id: number, error: unknown): void {
  // The store checkpoints by itself from now on, stalls and all.
  watched.get(id)?.db.close()
  watched.delete(id)
  send({ id, kind: 'failed', error: String(error) })
}

setInterval(() => {
  for (const [id, w] of watched) {
    if (w.holding) continue
    try {
      const [passive] = w.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[]
      if (!passive || passive.log <= RESTART_AFTER_PAGES) continue
      // Catch up with what was written meanwhile first, so that the store holds back for less.
      w.db.pragma('wal_checkpoint(PASSIVE)')
      w.holding = true
      send({ id, kind: 'hold' })
    } catch (error) {
      fail(id, error)
    }
  }
}, CHECKPOINT_EVERY_MS).unref()

port.on('message', (m: ToCheckpointer) => {
  if (m.type === 'held') {
    const w = watched.get(m.id)
    if (!w) return
    try {
      w.db.pragma('wal_checkpoint(RESTART)')
    } catch {
      // Another process may be reading the file: the log starts over another time.
    }
    w.holding = false
    return send({ id: m.id, kind: 'release' })
  }
  try {
    if (m.type === 'watch') {
      const db = new Database(m.file, { fileMustExist: true })
      // Short: the store holds its statements back while this connection waits for a lock.
      db.pragma('busy_timeout = 100')
      watched.set(m.id, { db, holding: false })
    } else {
      watched.get(m.id)?.db.close()
      watched.delete(m.id)
    }
    send({ id: m.id, kind: 'reply' })
  } catch (error) {
    send({ id: m.id, kind: 'reply', error: String(error) })
  }
})
