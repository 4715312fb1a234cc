import { createHash, timingSafeEqual } from 'node:crypto'
import { RingKitError } from '@ringkit/protocol'

/** How far CurTime may stray from the server clock, and how long a Nonce stays used. */
export const CHECKSUM_WINDOW_SECONDS = 300
const MAX_NONCE_LENGTH = 128

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
  if (!/^\d{1,12}$/.test(curTime)) throw new RingKitError('AUTH_MISSING', 'CurTime must be Unix seconds')
  return { appKey, nonce, curTime, checkSum }
}

/** Remembers Nonces for the window, so a captured request cannot be replayed. */
export interface NonceStore {
  /** False when the nonce was already used within the window. */
  use(appKey: string, nonce: string, nowMs: number): Promise<boolean>
}

export function memoryNonceStore(): NonceStore {
  const seen = new Map<string, number>()
  let nextSweep = 0
  return {
    async use(appKey, nonce, nowMs) {
      if (nowMs >= nextSweep) {
        for (const [k, expires] of seen) if (expires <= nowMs) seen.delete(k)
        nextSweep = nowMs + 10_000
      }
      const k = `${appKey}\u0000${nonce}`
      const expires = seen.get(k)
      if (expires !== undefined && expires > nowMs) return false
      // CurTime may be up to one window ahead, so keep the nonce for two.
      seen.set(k, nowMs + 2 * CHECKSUM_WINDOW_SECONDS * 1000)
      return true
    },
  }
}

/** Verifies a request's headers against the app's secret; the nonce is spent only by a valid request. */
export async function verifyCheckSum(
  h: AuthHeaders,
  appSecret: string,
  nonces: NonceStore,
  nowMs: number,
): Promise<void> {
  const expected = Buffer.from(computeCheckSum(appSecret, h.nonce, h.curTime))
  const given = Buffer.from(h.checkSum.toLowerCase())
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new RingKitError('CHECKSUM_INVALID')
  }
  if (Math.abs(nowMs / 1000 - Number(h.curTime)) > CHECKSUM_WINDOW_SECONDS) {
    throw new RingKitError('CURTIME_EXPIRED')
  }
  if (!(await nonces.use(h.appKey, h.nonce, nowMs))) throw new RingKitError('NONCE_REUSED')
}
