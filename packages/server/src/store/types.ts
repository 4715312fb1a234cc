import type { CallRecord } from '@ringkit/protocol'
import type { CallState } from '../calls/types.ts'
import type { NewWebhookEvent, WebhookEvent } from '../webhooks/events.ts'

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

export interface WebhookEndpoint {
  id: string
  url: string
  /** The event types it takes; `null`: all. */
  events: string[] | null
  secret: string
  /** It answered 410 Gone: nothing more is sent to it. */
  disabled: boolean
  createdAt: number
}

/** One attempt to make: the event, where it goes, and which attempt this is (1 for the first). */
export interface WebhookJob {
  endpoint: Pick<WebhookEndpoint, 'id' | 'url' | 'secret'>
  event: WebhookEvent
  attempt: number
  /** When the event was first queued for this endpoint (a redelivery queues it anew). */
  firstAt: number
}

/** One attempt as made: the HTTP status (0: no answer came), and why it failed. */
export interface WebhookAttempt {
  eventId: string
  type: string
  attempt: number
  status: number
  error?: string
  at: number
}

/** What happens to a job after its attempt. */
export type WebhookOutcome = { kind: 'delivered' | 'gaveUp' | 'disable' } | { kind: 'retry'; at: number }

/**
 * The webhook outbox. Events are written in the same transaction as what they report (a call's
 * end: the record's), and only when an enabled endpoint of the app takes their type; each event
 * becomes one job per such endpoint. A job is claimed with a lease, so that of several nodes one
 * makes each attempt, and a call's events go to an endpoint one after the other, in `seq` order.
 */
export interface WebhookStore {
  /** False when the app has `max` endpoints already. */
  createWebhook(appKey: string, endpoint: WebhookEndpoint, max: number): Promise<boolean>
  listWebhooks(appKey: string): Promise<WebhookEndpoint[]>
  deleteWebhook(appKey: string, id: string): Promise<boolean>
  /** Numbers the events after the call's last and queues them for the endpoints that take them. */
  addWebhookEvents(appKey: string, callId: string, events: NewWebhookEvent[], now: number): Promise<void>
  /** Up to `limit` jobs due at `now`, each leased until `now + leaseMs` and counted as one more attempt. */
  claimWebhookJobs(now: number, leaseMs: number, limit: number): Promise<WebhookJob[]>
  /** Keeps the attempt, and retires, reschedules or disables as `outcome` says; a job leased again since changes nothing. */
  settleWebhookJob(job: WebhookJob, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<void>
  /** The endpoint's latest attempts, newest first; undefined when the app has no such endpoint. */
  listWebhookAttempts(appKey: string, id: string, limit: number): Promise<WebhookAttempt[] | undefined>
  /** Queues the event for the endpoint again (enabling it again if it was disabled). */
  redeliverWebhook(
    appKey: string,
    id: string,
    eventId: string,
    now: number,
  ): Promise<'queued' | 'noEndpoint' | 'noEvent'>
  /** Forgets events older than `before` that wait for no attempt, and jobs queued before `giveUpBefore`. */
  pruneWebhooks(before: number, giveUpBefore: number): Promise<void>
}

/** A device's Web Push subscription, as its browser made it, and the language it shows calls in. */
export interface PushSubscriptionRecord {
  deviceId: string
  endpoint: string
  p256dh: string
  auth: string
  lang: string
  /** The RingKit server's base URL as the device reached it: where a notification's Decline goes. */
  server: string
  createdAt: number
}

/**
 * Where a device whose page is closed can still be rung (Web Push), and since when an account had
 * no device online (what its missed calls are counted from).
 */
export interface PushStore {
  /** Keeps the device's subscription (one per device); past `max` for the account, its oldest goes. */
  putPushSubscription(appKey: string, accid: string, sub: PushSubscriptionRecord, max: number): Promise<void>
  /** The device's subscription, or with no `deviceId` every one of the account's. */
  deletePushSubscription(appKey: string, accid: string, deviceId?: string): Promise<void>
  /** The push service said the subscription is gone (404/410). */
  dropPushEndpoint(endpoint: string): Promise<void>
  listPushSubscriptions(appKey: string, accid: string): Promise<PushSubscriptionRecord[]>
  markOffline(appKey: string, accid: string, at: number): Promise<void>
  /** When the account's last device went away, if one ever did. */
  offlineSince(appKey: string, accid: string): Promise<number | undefined>
  /** Writes `value` unless the key has one; resolves with the value kept (a cluster's first writer wins). */
  claimSetting(key: string, value: string): Promise<string>
}

export interface Store extends AppStore, AccountStore, CallStore, WebhookStore, PushStore {
  close(): Promise<void>
}
