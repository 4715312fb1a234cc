import { createHash, timingSafeEqual } from 'node:crypto'
import { RingKitError } from '@ringkit/protocol'

/** How far CurTime may stray from the server clock, and how long a Nonce stays used. */
export const CHECKSUM_WINDOW_SECONDS = 300
const MAX_NONCE_LENGTH = 128
const CANONICAL_CURTIME = /^[1-9]\d{0,11}$/
/** CurTime may be up to one window ahead, so what a request spent stays spent for two. */
const SPENT_FOR_MS = 2 * CHECKSUM_WINDOW_SECONDS * 1000

/** SHA-1(appSecret + Nonce + CurTime), lowercase hex: what app backends put in `CheckSum`. */
export function computeCheckSum(appSecret: string, nonce: string, curTime: string | number): string {
  return createHash('sha1').update(`${appSecret}${nonce}${curTime}`).digest('hex')
}

export interface AuthHeaders {
  appKey: string
  nonce: string
  curTime: string
  checkSum: string
}

/** Reads the four headers, or rejects with AUTH_MISSING. */
export function readAuthHeaders(headers: Record<string, string | string[] | undefined>): AuthHeaders {
  const one = (name: string) => {
    const v = headers[name]
    return typeof v === 'string' ? v : undefined
  }
  const appKey = one('appkey')
  const nonce = one('nonce')
  const curTime = one('curtime')
  const checkSum = one('checksum')
  if (!appKey || !nonce || !curTime || !checkSum) {
    throw new RingKitError('AUTH_MISSING', 'headers AppKey, Nonce, CurTime and CheckSum are required')
  }
  if (nonce.length > MAX_NONCE_LENGTH) throw new RingKitError('AUTH_MISSING', 'Nonce is longer than 128 characters')
  // One spelling per instant: with "0…" or "+…" allowed, a Nonce ending in a digit could lend it to
  // CurTime and the same CheckSum would pass again as a new request.
  if (!CANONICAL_CURTIME.test(curTime)) {
    throw new RingKitError('AUTH_MISSING', 'CurTime must be Unix seconds in decimal digits, without leading zeros')
  }
  return { appKey, nonce, curTime, checkSum }
}

/**
 * What valid requests spent, remembered for the window, so that a captured request cannot be sent
 * again. Shaped for a store shared by several nodes: in Redis, `spend` is one `SET key 1 NX PX ttlMs`
 * per key, and no transaction is needed.
 */
export interface NonceStore {
  /** Marks every key not spent yet as spent for `ttlMs`; true only when none of them was spent already. */
  spend(keys: readonly string[], nowMs: number, ttlMs: number): Promise<boolean>
}

export function memoryNonceStore(): NonceStore {
  const spent = new Map<string, number>()
  let nextSweep = 0
  return {
    async spend(keys, nowMs, ttlMs) {
      if (nowMs >= nextSweep) {
        for (const [k, expires] of spent) if (expires <= nowMs) spent.delete(k)
        nextSweep = nowMs + 10_000
      }
      let fresh = true
      for (const k of keys) {
        const expires = spent.get(k)
        // As SET NX does: a key already spent keeps its first expiry.
        if (expires !== undefined && expires > nowMs) fresh = false
        else spent.set(k, nowMs + ttlMs)
      }
      return fresh
    },
  }
}

/**
 * Verifies a request's headers against the app's secret. A valid request spends its Nonce and its
 * CheckSum: the sum covers neither method nor path, so it must never pass twice, however the
 * Nonce and CurTime around it are cut.
 */
export async function verifyCheckSum(
  h: AuthHeaders,
  appSecret: string,
  nonces: NonceStore,
  nowMs: number,
): Promise<void> {
  const expected = Buffer.from(computeCheckSum(appSecret, h.nonce, h.curTime))
  const sum = h.checkSum.toLowerCase()
  const given = Buffer.from(sum)
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new RingKitError('CHECKSUM_INVALID')
  }
  if (Math.abs(nowMs / 1000 - Number(h.curTime)) > CHECKSUM_WINDOW_SECONDS) {
    throw new RingKitError('CURTIME_EXPIRED')
  }
  const spent = [`nonce\u0000${h.appKey}\u0000${h.nonce}`, `sum\u0000${h.appKey}\u0000${sum}`]
  if (!(await nonces.spend(spent, nowMs, SPENT_FOR_MS))) throw new RingKitError('NONCE_REUSED')
}
