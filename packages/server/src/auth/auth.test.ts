import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { computeCheckSum, memoryNonceStore, readAuthHeaders, verifyCheckSum } from './checksum.ts'
import { SignJWT } from 'jose'
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

describe('CheckSum replay', () => {
  const now = 1_700_000_000_000
  const time = String(now / 1000)
  const sign = (nonce: string, curTime: string) =>
    readAuthHeaders({ appkey: 'k', nonce, curtime: curTime, checksum: computeCheckSum('s', nonce, curTime) })

  it('accepts CurTime only as decimal seconds without sign or leading zeros', () => {
    for (const curTime of ['0' + time, '+' + time, ' ' + time, time + '.0', '1e9', '-1', '0']) {
      assert.throws(() => sign('n', curTime), { code: 'AUTH_MISSING' }, JSON.stringify(curTime))
    }
    assert.equal(sign('n', time).curTime, time)
  })

  it('refuses a captured request cut again: its Nonce lends its last 0 to CurTime', async () => {
    const nonces = memoryNonceStore()
    const captured = sign('abc0', time)
    await verifyCheckSum(captured, 's', nonces, now)
    const resplit = { appkey: 'k', nonce: 'abc', curtime: `0${time}`, checksum: captured.checkSum }
    assert.equal(computeCheckSum('s', resplit.nonce, resplit.curtime), captured.checkSum, 'the same sum')
    assert.throws(() => readAuthHeaders(resplit), { code: 'AUTH_MISSING' })
  })

  it('spends the CheckSum as well as the Nonce, in upper or lower case', async () => {
    const spent: string[][] = []
    const recording = {
      async spend(keys: readonly string[], nowMs: number, ttlMs: number) {
        spent.push([...keys])
        assert.equal(ttlMs, 600_000)
        return memory.spend(keys, nowMs, ttlMs)
      },
    }
    const memory = memoryNonceStore()
    const request = sign('n1', time)
    await verifyCheckSum({ ...request, checkSum: request.checkSum.toUpperCase() }, 's', recording, now)
    assert.deepEqual(spent, [[`nonce\u0000k\u0000n1`, `sum\u0000k\u0000${request.checkSum}`]])
    await assert.rejects(verifyCheckSum(request, 's', recording, now), { code: 'NONCE_REUSED' })
  })

  it('a store refuses a set of keys when any one was spent, until the spending expires', async () => {
    const store = memoryNonceStore()
    assert.equal(await store.spend(['a', 'b'], now, 1000), true)
    assert.equal(await store.spend(['c', 'b'], now, 1000), false)
    assert.equal(await store.spend(['c'], now, 1000), false, 'c was spent by the refused attempt too')
    assert.equal(await store.spend(['a'], now + 999, 1000), false)
    assert.equal(await store.spend(['a', 'b'], now + 1000, 1000), true)
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

  it('made by any JWT library are refused as TOKEN_INVALID when they live longer than 7 days or say not how long', async () => {
    const now = 1_700_000_000
    const mint = (claims: { iat?: number; exp?: number }) => {
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('k').setSubject('bob')
      if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat)
      if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp)
      return jwt.setAudience('ringkit').sign(new TextEncoder().encode(app.appSecret))
    }
    const expect = { ...app, accid: 'bob', tokensValidAfter: 0, now: now * 1000 }
    const week = 7 * 24 * 3600
    for (const claims of [{ iat: now, exp: now + week + 2 }, { exp: now + 60 }, { iat: now }]) {
      await assert.rejects(verifyToken(await mint(claims), expect), { code: 'TOKEN_INVALID' }, JSON.stringify(claims))
    }
    assert.equal((await verifyToken(await mint({ iat: now, exp: now + week }), expect)).expiresAt, (now + week) * 1000)
    // createToken rounds expiry up to the second, so its longest token passes at any millisecond.
    const longest = await createToken({ ...app, accid: 'bob', ttlSeconds: week, now: now * 1000 + 999 })
    await verifyToken(longest.token, { ...expect, now: now * 1000 + 1000 })
  })

  it('refuse a lifetime above 7 days', async () => {
    await assert.rejects(createToken({ ...app, accid: 'bob', ttlSeconds: 7 * 24 * 3600 + 1 }), {
      code: 'INVALID_PARAMS',
    })
  })
})
