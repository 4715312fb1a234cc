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
}

export interface SpooledStore extends Store {
  /** Records kept in this node's spool, waiting to be written. */
  readonly spooledRecords: number
}

interface Spooled {
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
 * `finishCall` resolves true for a spooled record: it is final, and it will be written unless the
 * call's journal row is taken over first by another node, after this one died with the record
 * spooled (then that node's record is the one kept).
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
  const writeOut = async () => {
    for (const [name, { appKey, record }] of [...held]) {
      try {
        await store.finishCall(appKey, record)
      } catch (error) {
        if (unavailable(error)) return
        o.onError?.(error, record.callId)
        continue
      }
      // Not fsynced: a removal lost to a crash only writes the record again, which is a no-op.
      await unlink(join(o.dir, name)).catch(() => {})
      held.delete(name)
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
    async finishCall(appKey, record) {
      try {
        return await store.finishCall(appKey, record)
      } catch (error) {
        if (!unavailable(error)) throw error
        const name = `${createHash('sha256').update(`${appKey}\0${record.callId}`).digest('hex')}.json`
        const spooled: Spooled = { appKey, record }
        await keep(o.dir, name, JSON.stringify(spooled))
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
