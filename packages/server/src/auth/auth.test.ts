import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { computeCheckSum, memoryNonceStore, readAuthHeaders, verifyCheckSum } from './checksum.ts'
import { createToken, verifyToken } from './tokens.ts'

describe('CheckSum', () => {
  it('is the lowercase hex SHA-1 of appSecret + Nonce + CurTime', () => {
    // printf secretabc1700000000 | sha1sum
    assert.equal(computeCheckSum('secret', 'abc', 1700000000), '945104fb0890e830c0a6f0293cc475d9603210d0')
  })

  it('accepts a fresh request once and refuses a replay, a stale clock and a wrong sum', async () => {
    const nonces = memoryNonceStore()
    const now = 1_700_000_000_000
    const headers = (nonce: string, curTime: number, sum?: string) =>
      readAuthHeaders({
        appkey: 'k',
        nonce,
        curtime: String(curTime),
        checksum: sum ?? computeCheckSum('s', nonce, curTime),
      })
    await verifyCheckSum(headers('n1', now / 1000), 's', nonces, now)
    await assert.rejects(verifyCheckSum(headers('n1', now / 1000), 's', nonces, now), { code: 'NONCE_REUSED' })
    await assert.rejects(verifyCheckSum(headers('n2', now / 1000 - 301), 's', nonces, now), { code: 'CURTIME_EXPIRED' })
    await verifyCheckSum(headers('n3', now / 1000 - 300), 's', nonces, now)
    await assert.rejects(verifyCheckSum(headers('n4', now / 1000, 'ff'), 's', nonces, now), {
      code: 'CHECKSUM_INVALID',
    })
    assert.throws(() => readAuthHeaders({ appkey: 'k', nonce: 'x'.repeat(129), curtime: '1', checksum: 'a' }), {
      code: 'AUTH_MISSING',
    })
  })
})

describe('tokens', () => {
  const app = { appKey: 'k', appSecret: 's3cret' }
  it('bind app, account and expiry', async () => {
    const now = 1_700_000_000_000
    const { token, expiresAt } = await createToken({ ...app, accid: 'bob', ttlSeconds: 60, now })
    assert.equal(expiresAt, now + 60_000)
    const ok = await verifyToken(token, { ...app, accid: 'bob', tokensValidAfter: 0, now: now + 1000 })
    assert.equal(ok.issuedAtMs, now)
    await assert.rejects(verifyToken(token, { ...app, accid: 'eve', tokensValidAfter: 0, now }), {
      code: 'TOKEN_INVALID',
    })
    await assert.rejects(
      verifyToken(token, { appKey: 'other', appSecret: 's3cret', accid: 'bob', tokensValidAfter: 0, now }),
      {
        code: 'TOKEN_INVALID',
      },
    )
    await assert.rejects(verifyToken(token, { ...app, appSecret: 'nope', accid: 'bob', tokensValidAfter: 0, now }), {
      code: 'TOKEN_INVALID',
    })
    await assert.rejects(verifyToken(token, { ...app, accid: 'bob', tokensValidAfter: 0, now: now + 61_000 }), {
      code: 'TOKEN_EXPIRED',
    })
    await assert.rejects(verifyToken(token, { ...app, accid: 'bob', tokensValidAfter: now + 1, now }), {
      code: 'TOKEN_REVOKED',
    })
  })

  it('refuse a lifetime above 7 days', async () => {
    await assert.rejects(createToken({ ...app, accid: 'bob', ttlSeconds: 7 * 24 * 3600 + 1 }), {
      code: 'INVALID_PARAMS',
    })
  })
})
