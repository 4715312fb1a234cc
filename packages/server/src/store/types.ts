import type { CallRecord } from '@ringkit/protocol'
import type { CallState } from '../calls/types.ts'

export interface App {
  appKey: string
  appSecret: string
  name: string
  /** All devices ring and the first answer wins (true), or a new login kicks the old one (false). */
  multiDevice: boolean
  createdAt: number
}

export interface Account {
  accid: string
  name: string
  avatar: string
  createdAt: number
  updatedAt: number
  /** Tokens issued before this instant (epoch ms) are revoked. */
  tokensValidAfter: number
}

export interface AccountPatch {
  name?: string | undefined
  avatar?: string | undefined
}

/**
 * The setting where a node notes, every few seconds, that it is up: what a crash recovery dates
 * the calls it ends to. It belongs to the node that wrote it, so it is never copied elsewhere.
 */
export const ALIVE_SETTING = 'aliveAt'

export interface AppStore {
  getApp(appKey: string): Promise<App | undefined>
  /** Creates the app, or replaces the secret and settings of one with the same key. */
  putApp(app: App): Promise<void>
  getSetting(key: string): Promise<string | undefined>
  putSetting(key: string, value: string): Promise<void>
}

export interface AccountStore {
  /** Undefined when the accid is taken. */
  createAccount(appKey: string, input: { accid: string } & AccountPatch, now: number): Promise<Account | undefined>
  updateAccount(appKey: string, accid: string, patch: AccountPatch, now: number): Promise<Account | undefined>
  getAccount(appKey: string, accid: string): Promise<Account | undefined>
  /** Whether the account exists; cheap enough for every call (accounts are never deleted). */
  hasAccount(appKey: string, accid: string): Promise<boolean>
  /** Marks every token issued until `now` revoked. False when there is no such account. */
  revokeTokens(appKey: string, accid: string, now: number): Promise<boolean>
}

export interface JournaledCall {
  state: CallState
  owner: string | undefined
}

export interface RecordPage {
  records: CallRecord[]
  nextCursor?: string
}

/**
 * Durable side of calls: a journal of live calls, so a restart can end them with a record, and the
 * records themselves. `finishCall` removes the journal entry and writes the record in one
 * transaction and writes nothing when the record exists: a record is written exactly once.
 */
export interface CallStore {
  /**
   * Keeps the call's latest state. `owner`: the node that keeps the call, in a cluster; `version`:
   * the live state's version this state was written at. A shared store refuses (resolves false) a
   * write of an older version than the one journaled, or of a call whose record is written: a node
   * that paused between its state write and this one cannot take the call back. The SQLite store
   * is one node, keeps neither, and always writes.
   */
  journalCall(state: CallState, owner?: string, version?: number): Promise<boolean>
  finishCall(appKey: string, record: CallRecord): Promise<boolean>
  listJournaledCalls(): Promise<CallState[]>
  /** The journal with each call's owner (`undefined`: none named). */
  listJournal(): Promise<JournaledCall[]>
  getRecord(appKey: string, callId: string): Promise<CallRecord | undefined>
  listRecords(appKey: string, accid: string, page: { limit: number; cursor?: string | undefined }): Promise<RecordPage>
}

export interface Store extends AppStore, AccountStore, CallStore {
  close(): Promise<void>
}
