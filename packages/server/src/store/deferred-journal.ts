import { RingKitError } from '@ringkit/protocol'
import type { CallJournal } from '../calls/journal.ts'
import type { CallState } from '../calls/types.ts'
import type { CallStore } from './types.ts'

/** Retries of the writes held back: the first soon after a failed one, then doubling up to the last. */
const FIRST_RETRY_MS = 250
const LAST_RETRY_MS = 5_000

export interface DeferredJournalOptions {
  /** This node: the owner its journal rows name. */
  owner: string
  /** Told when a held-back write could not be made for another reason than an outage (it is dropped). */
  onError?: (error: unknown, callId: string) => void
  /** Told when the journal starts holding writes back, the database being unreachable. */
  onBehind?: (error: unknown) => void
}

export interface DeferredJournal extends CallJournal {
  /** Calls whose latest state waits to be journaled. */
  readonly pending: number
  /** Stops retrying; what is held back stays unwritten (the live state keeps it). */
  close(): void
}

interface Held {
  state: CallState
  version: number
}

/**
 * The journal of a node of a cluster, where a call's live state is kept in Redis and the journal
 * row is only what a node taking over falls back on once that state is gone. So a call in
 * progress need not stop when PostgreSQL does: a change of a journaled call (an answer, a member
 * joining or leaving) that the database cannot take is held back, the latest state per call only,
 * and written once the database answers again, with backoff. While writes are held back, the next
 * ones join them without waiting for the database. Each write names the live version, which the
 * store fences on, so a held-back state never replaces a newer one, whoever wrote that.
 *
 * A new call is not held back: its row must be there before anyone hears of the call, as a node
 * that dies leaves only the journal to find the call by. So new calls fail with STORE_UNAVAILABLE.
 */
export function deferredJournal(store: CallStore, o: DeferredJournalOptions): DeferredJournal {
  const held = new Map<string, Held>()
  let retryMs = FIRST_RETRY_MS
  let timer: NodeJS.Timeout | undefined
  let pass: Promise<void> | undefined
  let closed = false

  const hold = (state: CallState, version: number) => {
    const kept = held.get(state.callId)
    if (!kept || kept.version < version) held.set(state.callId, { state, version })
    schedule()
  }
  /** Writes what is held; stops at the first outage, leaving the rest for the next pass. */
  const writeOut = async () => {
    for (const [callId, entry] of [...held]) {
      try {
        await store.journalCall(entry.state, o.owner, entry.version)
      } catch (error) {
        if (unavailable(error)) return
        o.onError?.(error, callId)
      }
      // A newer state held meanwhile stays for the next pass.
      if (held.get(callId) === entry) held.delete(callId)
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
    timer.unref()
  }

  return {
    get pending() {
      return held.size
    },
    async begin(state, version) {
      await store.journalCall(state, o.owner, version)
    },
    async update(state, version) {
      // Behind already: this write would only wait for the database to refuse it, and overtake those held.
      if (held.size > 0) return hold(state, version)
      try {
        await store.journalCall(state, o.owner, version)
      } catch (error) {
        if (!unavailable(error)) throw error
        o.onBehind?.(error)
        hold(state, version)
      }
    },
    ended(callId) {
      held.delete(callId)
    },
    close() {
      closed = true
      clearTimeout(timer)
    },
  }
}

const unavailable = (error: unknown) => error instanceof RingKitError && error.code === 'STORE_UNAVAILABLE'
