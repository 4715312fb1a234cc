import type { CallStore } from '../store/types.ts'
import type { CallState } from './types.ts'

/**
 * How the engine keeps each live call's row in the durable journal, the row a node that takes
 * over (or a restart) ends the call from. Every write names the live state's version it was kept
 * at, so the store refuses a state older than the one it holds.
 */
export interface CallJournal {
  /** A new call: written before its caller hears of it, or the call does not start (rejects). */
  begin(state: CallState, version: number): Promise<void>
  /** A later state of a call already journaled; a journal may write it later (never over a newer one). */
  update(state: CallState, version: number): Promise<void>
  /** The call ended (its record is written or spooled): a state still waiting to be written is moot. */
  ended(callId: string): void
  /** The engine closes: nothing more is written. */
  close?(): void
}

/** The journal written straight to the store, each write awaited: SQLite, or one PostgreSQL node. */
export function storeJournal(store: CallStore, owner: string | undefined): CallJournal {
  return {
    async begin(state, version) {
      await store.journalCall(state, owner, version)
    },
    async update(state, version) {
      await store.journalCall(state, owner, version)
    },
    ended() {},
  }
}
