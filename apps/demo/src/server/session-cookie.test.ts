import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { clearedSessionCookie, newSessionToken, readCookie, SESSION_COOKIE, sessionCookie } from './session-cookie.ts'

describe('session cookie', () => {
  it('finds its cookie among others, by exact name', () => {
    const header = `x${SESSION_COOKIE}=wrong; theme=dark;  ${SESSION_COOKIE}=tok_en-1 ; other=2`
    assert.equal(readCookie(header, SESSION_COOKIE), 'tok_en-1')
    assert.equal(readCookie('theme=dark', SESSION_COOKIE), undefined)
    assert.equal(readCookie(undefined, SESSION_COOKIE), undefined)
  })

  it('is HttpOnly, SameSite=Lax, site-wide; Secure only over https; cleared with Max-Age=0', () => {
    const token = newSessionToken()
    assert.match(token, /^[A-Za-z0-9_-]{43}$/)
    assert.equal(
      sessionCookie(token, false),
      `${SESSION_COOKIE}=${token}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax`,
    )
    assert.match(sessionCookie(token, true), /; Secure$/)
    assert.match(clearedSessionCookie(false), new RegExp(`^${SESSION_COOKIE}=; Path=/; Max-Age=0;`))
  })
})
