import { randomUUID } from 'node:crypto'
import { errors, jwtVerify, SignJWT } from 'jose'
import { RingKitError } from '@ringkit/protocol'

export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 3600
export const MAX_TOKEN_TTL_SECONDS = 7 * 24 * 3600
const AUDIENCE = 'ringkit'

export interface TokenInput {
  appKey: string
  appSecret: string
  accid: string
  ttlSeconds?: number
  /** Epoch ms; for tests. */
  now?: number
}

export interface IssuedToken {
  token: string
  /** Epoch ms. */
  expiresAt: number
}

/**
 * A login token for one account: an HS256 JWT signed with the app secret, so an app backend can
 * make one without calling RingKit. `iatMs` lets a revocation cut at the millisecond.
 */
export async function createToken(input: TokenInput): Promise<IssuedToken> {
  const ttl = input.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
    throw new RingKitError('INVALID_PARAMS', `ttlSeconds must be a whole number from 1 to ${MAX_TOKEN_TTL_SECONDS}`)
  }
  const now = input.now ?? Date.now()
  // `exp` has whole seconds: round up, so the token lives its full ttl and expiresAt says when it ends.
  const expiresAt = Math.ceil((now + ttl * 1000) / 1000) * 1000
  const token = await new SignJWT({ iatMs: now })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(input.appKey)
    .setSubject(input.accid)
    .setAudience(AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(expiresAt / 1000)
    .sign(secretKey(input.appSecret))
  return { token, expiresAt }
}

export interface VerifiedToken {
  issuedAtMs: number
  expiresAt: number
}

/** Checks signature, app, account, lifetime, expiry and revocation; rejects with the matching error code. */
export async function verifyToken(
  token: string,
  expect: { appKey: string; appSecret: string; accid: string; tokensValidAfter: number; now?: number },
): Promise<VerifiedToken> {
  const now = expect.now ?? Date.now()
  let payload
  try {
    ;({ payload } = await jwtVerify(token, secretKey(expect.appSecret), {
      algorithms: ['HS256'],
      issuer: expect.appKey,
      subject: expect.accid,
      audience: AUDIENCE,
      currentDate: new Date(now),
      clockTolerance: 0,
    }))
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new RingKitError('TOKEN_EXPIRED', undefined, { cause: error })
    throw new RingKitError('TOKEN_INVALID', undefined, { cause: error })
  }
  // App backends mint tokens with any JWT library: the lifetime cap holds for those too, and a
  // token without iat or exp has no lifetime to check. One second more for createToken's rounding.
  if (payload.iat === undefined || payload.exp === undefined || payload.exp - payload.iat > MAX_TOKEN_TTL_SECONDS + 1) {
    throw new RingKitError('TOKEN_INVALID', undefined, {
      cause: new Error(`a token lives at most ${MAX_TOKEN_TTL_SECONDS} seconds`),
    })
  }
  const issuedAtMs = typeof payload.iatMs === 'number' ? payload.iatMs : payload.iat * 1000
  if (issuedAtMs < expect.tokensValidAfter) throw new RingKitError('TOKEN_REVOKED')
  return { issuedAtMs, expiresAt: payload.exp * 1000 }
}

const keys = new Map<string, Uint8Array>()
function secretKey(secret: string): Uint8Array {
  let key = keys.get(secret)
  if (!key) keys.set(secret, (key = new TextEncoder().encode(secret)))
  return key
}
