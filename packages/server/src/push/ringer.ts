import webpush from 'web-push'
import type { Logger } from 'pino'
import { SignJWT, decodeJwt, jwtVerify } from 'jose'
import { missedBy, RingKitError, type CallRecord } from '@ringkit/protocol'
import type { PushSubscriptionRecord, Store } from '../store/types.ts'

/** How long one push may take to be accepted by the push service. */
const PUSH_TIMEOUT_MS = 10_000
/** A missed-call notice is worth showing for a day; past that the push service may drop it. */
const MISSED_TTL_SECONDS = 24 * 3600
/** Most subscriptions one account keeps; a new one past it replaces the oldest. */
export const MAX_PUSH_SUBSCRIPTIONS = 10
const VAPID_SETTING = 'vapidKeys'
export const DEFAULT_VAPID_SUBJECT = 'mailto:push@ringkit.invalid'

export interface VapidKeys {
  publicKey: string
  privateKey: string
}

/** The server's VAPID key pair: made on the first start of the first node, the same on every node after. */
export async function vapidKeys(store: Store): Promise<VapidKeys> {
  return JSON.parse(await store.claimSetting(VAPID_SETTING, JSON.stringify(webpush.generateVAPIDKeys()))) as VapidKeys
}

/** What the service worker gets; `kind` says whether to ring, to show a missed call, or to take the ring away. */
export type PushPayload =
  | {
      kind: 'ring'
      callId: string
      caller: string
      name: string
      avatar: string
      type: 'audio' | 'video'
      isGroup: boolean
      expiresAt: number
      lang: string
      /** POST `{token}` here to decline without opening a page. */
      declineUrl: string
      declineToken: string
    }
  | { kind: 'missed' | 'clear'; callId: string; caller: string; name: string; avatar: string; lang: string }

export interface RingOffline {
  appKey: string
  callId: string
  caller: string
  type: 'audio' | 'video'
  isGroup: boolean
  expiresAt: number
  callees: string[]
}

export interface PushRingerOptions {
  store: Store
  vapid: VapidKeys & { subject: string }
  log: Pick<Logger, 'warn'>
}

/**
 * Rings accounts with no device online through Web Push (RFC 8030, VAPID RFC 8292, payloads
 * encrypted RFC 8291 by `web-push`), and follows each ring with a second push when the call is
 * over for them: a missed call, or, answered, the ring taken away. A subscription the push service
 * says is gone (404, 410) is dropped.
 */
export class PushRinger {
  readonly #o: PushRingerOptions
  /** Calls this node rang by push, and whom: their end is told to those devices. */
  readonly #rung = new Map<string, Set<string>>()

  constructor(o: PushRingerOptions) {
    this.#o = o
  }

  get publicKey(): string {
    return this.#o.vapid.publicKey
  }

  async has(appKey: string, accid: string): Promise<boolean> {
    return (await this.#o.store.listPushSubscriptions(appKey, accid)).length > 0
  }

  async ring(call: RingOffline): Promise<void> {
    const { store } = this.#o
    const app = await store.getApp(call.appKey)
    if (!app) return
    const who = await this.#who(call.appKey, call.caller)
    const ttl = Math.max(1, Math.ceil((call.expiresAt - Date.now()) / 1000))
    for (const accid of call.callees) {
      const subs = await store.listPushSubscriptions(call.appKey, accid)
      if (subs.length === 0) continue
      this.#remember(call.callId, accid)
      const declineToken = await new SignJWT({ cid: call.callId, act: 'decline', iatMs: Date.now() })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(call.appKey)
        .setSubject(accid)
        .setExpirationTime(Math.ceil(call.expiresAt / 1000))
        .sign(new TextEncoder().encode(app.appSecret))
      await Promise.all(
        subs.map(async (sub) =>
          this.#send(sub, ttl, call.callId, {
            kind: 'ring',
            callId: call.callId,
            ...who,
            type: call.type,
            isGroup: call.isGroup,
            expiresAt: call.expiresAt,
            lang: sub.lang,
            declineUrl: `${sub.server}/v1/push/decline`,
            declineToken,
          }),
        ),
      )
    }
  }

  /**
   * The call is over: callees who did not answer and have no device online hear of a missed call
   * (whichever node rang them); those this node rang and who answered have the ring taken away.
   */
  async ended(appKey: string, record: CallRecord, online: (accid: string) => Promise<boolean>): Promise<void> {
    const rung = this.#rung.get(record.callId)
    this.#rung.delete(record.callId)
    const who = await this.#who(appKey, record.caller)
    for (const { accid } of record.members) {
      if (accid === record.caller) continue
      // Missed: told so wherever the ring came from, unless a device is online to show it.
      // Answered or declined (here or on another device): only a ring this node sent is taken away.
      const missed = missedBy(record, accid)
      if (missed ? await online(accid) : !rung?.has(accid)) continue
      const subs = await this.#o.store.listPushSubscriptions(appKey, accid)
      const kind = missed ? 'missed' : 'clear'
      await Promise.all(
        subs.map(async (sub) =>
          this.#send(sub, MISSED_TTL_SECONDS, record.callId, { kind, callId: record.callId, ...who, lang: sub.lang }),
        ),
      )
    }
  }

  /** Checks a decline token from a notification; resolves with the app, call and account it is for. */
  async verifyDecline(token: string): Promise<{ appKey: string; callId: string; accid: string }> {
    const invalid = () => new RingKitError('TOKEN_INVALID', 'not a decline token of this server')
    let appKey: string | undefined
    try {
      appKey = decodeJwt(token).iss
    } catch {
      throw invalid()
    }
    const app = appKey === undefined ? undefined : await this.#o.store.getApp(appKey)
    if (!app) throw invalid()
    const key = new TextEncoder().encode(app.appSecret)
    const { payload } = await jwtVerify(token, key, { issuer: app.appKey, algorithms: ['HS256'] }).catch(
      (error: unknown) => {
        throw (error as { code?: string }).code === 'ERR_JWT_EXPIRED' ? new RingKitError('TOKEN_EXPIRED') : invalid()
      },
    )
    if (payload.act !== 'decline' || typeof payload.cid !== 'string' || !payload.sub) throw invalid()
    // Revoking the account's tokens revokes what its notifications carry too.
    const account = await this.#o.store.getAccount(app.appKey, payload.sub)
    if (!account) throw invalid()
    if (typeof payload.iatMs !== 'number' || payload.iatMs < account.tokensValidAfter) {
      throw new RingKitError('TOKEN_REVOKED')
    }
    return { appKey: app.appKey, callId: payload.cid, accid: payload.sub }
  }

  #remember(callId: string, accid: string): void {
    // Bounded by the calls ringing on this node; a call this node never sees end is forgotten at the next start.
    if (this.#rung.size > 100_000) this.#rung.clear()
    const set = this.#rung.get(callId) ?? new Set<string>()
    set.add(accid)
    this.#rung.set(callId, set)
  }

  async #who(appKey: string, accid: string): Promise<{ caller: string; name: string; avatar: string }> {
    const account = await this.#o.store.getAccount(appKey, accid)
    return { caller: accid, name: account?.name || accid, avatar: account?.avatar ?? '' }
  }

  async #send(sub: PushSubscriptionRecord, ttl: number, callId: string, payload: PushPayload): Promise<void> {
    try {
      const request = webpush.generateRequestDetails(
        { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } },
        JSON.stringify(payload),
        {
          vapidDetails: this.#o.vapid,
          TTL: ttl,
          // A Topic is at most 32 URL-safe base64 characters: the callId's 32 hex digits. A later
          // push of the same call replaces one the push service still holds.
          topic: callId.replace(/[^A-Za-z0-9_]/g, '').slice(0, 32),
          urgency: 'high',
          contentEncoding: 'aes128gcm',
        },
      )
      const response = await fetch(request.endpoint, {
        method: request.method,
        headers: request.headers as Record<string, string>,
        body: request.body ? new Uint8Array(request.body) : null,
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      })
      await response.body?.cancel().catch(() => {})
      if (response.status === 404 || response.status === 410) await this.#o.store.dropPushEndpoint(sub.endpoint)
      else if (!response.ok) this.#o.log.warn({ status: response.status, callId }, 'the push service refused a push')
    } catch (error) {
      this.#o.log.warn({ err: error, callId }, 'a push could not be sent')
    }
  }
}
