import { createHash, randomBytes } from 'node:crypto'
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { RingKitError, type CallRecord } from '@ringkit/protocol'
import { makePrivateDir } from './private-files.ts'
import type { Store } from './types.ts'

/** Retries of the spool: the first soon after a failed write, then doubling up to the last. */
const FIRST_RETRY_MS = 250
const LAST_RETRY_MS = 5_000
/** The spool's dir inside the data dir. */
export const RECORD_SPOOL_DIR = 'record-spool'
const SPOOLED = /^[0-9a-f]{64}\.json$/

export interface RecordSpoolOptions {
  /** Where spooled records are kept: a dir of this node's own, created 0700. */
  dir: string
  /** Told when a spooled record could not be written for another reason than an outage. */
  onError?: (error: unknown, callId: string) => void
  /** Told when a record goes to the spool. */
  onSpooled?: (callId: string, error: unknown) => void
  /**
   * The cluster's copy of spooled records (Redis): each spooled record is kept there too, and
   * every listing of the journal first writes what it holds, whichever node spooled it.
   */
  shared?: SharedSpool
  /** Told when a record could not be kept in, or dropped from, the shared copy; the local one stands. */
  onSharedError?: (error: unknown, callId: string) => void
}

/** Where the nodes of a cluster keep the records any of them spooled, until they are written. */
export interface SharedSpool {
  keep(appKey: string, record: CallRecord): Promise<void>
  drop(appKey: string, callId: string): Promise<void>
  all(): Promise<Spooled[]>
}

export interface SpooledStore extends Store {
  /** Records kept in this node's spool, waiting to be written. */
  readonly spooledRecords: number
}

export interface Spooled {
  appKey: string
  record: CallRecord
}

/**
 * A store whose `finishCall` survives an outage of the database: a record it cannot write because
 * the database is unreachable (STORE_UNAVAILABLE) goes to a file of the node's spool, fsynced
 * before `finishCall` returns, and is written from there once the database answers again (with
 * backoff, and first thing when the node starts again). The record's unique key makes a write of
 * a record already there a no-op, so a crash between a write and the removal of its file
 * duplicates nothing. Any other failure (a refused statement, a bug) is thrown as it is.
 *
 * `finishCall` resolves true for a spooled record: it is final. In a cluster it is kept in the
 * shared spool too before `finishCall` resolves, and every node writes what the shared spool holds
 * before it reads the journal: a node that died with a record spooled, and stays down past its
 * lease, has its record written by the node that looks at its calls, never an `interrupted` one
 * in its place. Without the shared copy (Redis away at that moment) the record is kept locally
 * only, and another node may end the call first, as `interrupted`.
 */
export async function withRecordSpool(store: Store, o: RecordSpoolOptions): Promise<SpooledStore> {
  makePrivateDir(o.dir, [])
  const held = new Map<string, Spooled>()
  for (const name of await readdir(o.dir)) {
    const path = join(o.dir, name)
    // A temp file is a record whose spooling did not finish: its call end was never acknowledged.
    if (name.endsWith('.tmp')) await unlink(path).catch(ignoreGone)
    else if (SPOOLED.test(name)) {
      const text = await readFile(path, 'utf8').catch(ignoreGone)
      if (text !== undefined) held.set(name, parseSpooled(path, text))
    }
  }
  let retryMs = FIRST_RETRY_MS
  let timer: NodeJS.Timeout | undefined
  let pass: Promise<void> | undefined
  let closed = false

  /** Writes what the spool holds; stops at the first outage, leaving the rest for the next pass. */
  /** The record is in the store: its copies go. Not fsynced: a removal lost to a crash only writes it again, a no-op. */
  const written = async ({ appKey, record }: Spooled) => {
    const name = fileOf(appKey, record.callId)
    await o.shared?.drop(appKey, record.callId).catch((error: unknown) => o.onSharedError?.(error, record.callId))
    if (held.delete(name)) await unlink(join(o.dir, name)).catch(() => {})
  }
  const writeOut = async () => {
    for (const spooled of [...held.values()]) {
      try {
        await store.finishCall(spooled.appKey, spooled.record)
      } catch (error) {
        if (unavailable(error)) return
        o.onError?.(error, spooled.record.callId)
        continue
      }
      await written(spooled)
    }
  }
  /** Writes the records any node of the cluster spooled; rejects at an outage. */
  const writeShared = async () => {
    for (const spooled of (await o.shared?.all()) ?? []) {
      try {
        await store.finishCall(spooled.appKey, spooled.record)
      } catch (error) {
        if (unavailable(error)) throw error
        // Its own node tells of it, and the record stays for it to tell.
        continue
      }
      await written(spooled)
    }
  }
  const schedule = () => {
    if (closed || timer || pass || held.size === 0) return
    timer = setTimeout(() => {
      timer = undefined
      pass = writeOut().finally(() => {
        pass = undefined
        retryMs = held.size === 0 ? FIRST_RETRY_MS : Math.min(2 * retryMs, LAST_RETRY_MS)
        schedule()
      })
    }, retryMs)
    // What keeps the process up is the server; a start that failed leaves the spool for the next one.
    timer.unref()
  }

  // Before the node does anything else: its recovery must find these calls' journal rows ended.
  pass = writeOut().finally(() => (pass = undefined))
  await pass
  schedule()

  return {
    ...store,
    get spooledRecords() {
      return held.size
    },
    async listJournaledCalls() {
      await writeShared()
      return store.listJournaledCalls()
    },
    async listJournal() {
      await writeShared()
      return store.listJournal()
    },
    async finishCall(appKey, record) {
      try {
        return await store.finishCall(appKey, record)
      } catch (error) {
        if (!unavailable(error)) throw error
        const name = fileOf(appKey, record.callId)
        const spooled: Spooled = { appKey, record }
        const shared = o.shared
          ?.keep(appKey, record)
          .catch((sharedError: unknown) => o.onSharedError?.(sharedError, record.callId))
        await Promise.all([keep(o.dir, name, JSON.stringify(spooled)), shared])
        held.set(name, spooled)
        o.onSpooled?.(record.callId, error)
        schedule()
        return true
      }
    },
    async close() {
      closed = true
      clearTimeout(timer)
      await pass
      await store.close()
    },
  }
}

/** The spool file of a record: its name says nothing of the app or the call. */
const fileOf = (appKey: string, callId: string) =>
  `${createHash('sha256').update(`${appKey}\0${callId}`).digest('hex')}.json`

/** The file is ours and was renamed into place whole: one that does not parse is a damaged disk, said loudly. */
function parseSpooled(path: string, text: string): Spooled {
  try {
    const spooled = JSON.parse(text) as Partial<Spooled>
    if (typeof spooled.appKey === 'string' && typeof spooled.record?.callId === 'string') return spooled as Spooled
  } catch {
    // Said below.
  }
  throw new Error(`the spooled call record ${path} is unreadable: move it out of the spool to start`)
}

/** Another start on the same dir wrote the file out meanwhile. */
function ignoreGone(error: unknown): undefined {
  if ((error as { code?: unknown }).code === 'ENOENT') return undefined
  throw error
}

const unavailable = (error: unknown) => error instanceof RingKitError && error.code === 'STORE_UNAVAILABLE'

/** Writes the file so that a crash leaves either all of it or none: temp file, fsync, rename, fsync the dir. */
async function keep(dir: string, name: string, text: string): Promise<void> {
  const temp = join(dir, `${name}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(temp, 'wx', 0o600)
  try {
    await file.writeFile(text)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temp, join(dir, name))
  const folder = await open(dir, 'r')
  try {
    await folder.sync()
  } finally {
    await folder.close()
  }
}
