import { createHash, randomBytes } from 'node:crypto'

export const SESSION_COOKIE = 'ringkit_demo_session'
export const SESSION_TTL_SECONDS = 30 * 24 * 3600

/** 32 random bytes, base64url: cookie-safe as is. */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Sessions are stored by hash, so a copy of the database does not hand out live sessions. */
export function sessionKey(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** HttpOnly keeps the token from page scripts; SameSite=Lax keeps other sites from posting as the user. */
export function sessionCookie(token: string, secure: boolean): string {
  return cookie(token, SESSION_TTL_SECONDS, secure)
}

export function clearedSessionCookie(secure: boolean): string {
  return cookie('', 0, secure)
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  const parts = [`${SESSION_COOKIE}=${value}`, 'Path=/', `Max-Age=${maxAgeSeconds}`, 'HttpOnly', 'SameSite=Lax']
  if (secure) parts.push('Secure')
  return parts.join('; ')
}
