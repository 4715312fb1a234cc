import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { createToken } from '../src/index.ts'
import { startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'

let server: TestServer

before(async () => {
  server = await startTestServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

/** A raw request with the four auth headers as given, so each can be broken on purpose. */
async function raw(headers: Record<string, string | undefined>, path = '/v1/accounts/nobody') {
  const res = await fetch(`${server.url}${path}`, {
    headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
  })
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } }
}

function signed(secret = server.app.appSecret, nonce: string = randomUUID(), curTime = Math.floor(Date.now() / 1000)) {
  return {
    AppKey: server.app.appKey,
    Nonce: nonce,
    CurTime: String(curTime),
    CheckSum: createHash('sha1').update(`${secret}${nonce}${curTime}`).digest('hex'),
  }
}

describe('REST authentication', () => {
  it('a correctly signed request passes', async () => {
    assert.equal((await raw(signed())).status, 404)
  })

  it('each missing header is refused with 401 AUTH_MISSING', async () => {
    for (const header of ['AppKey', 'Nonce', 'CurTime', 'CheckSum']) {
      const res = await raw({ ...signed(), [header]: undefined })
      assert.equal(res.status, 401, header)
      assert.equal(res.body.error?.code, 'AUTH_MISSING', header)
    }
  })

  it('a Nonce over 128 characters is refused', async () => {
    const res = await raw(signed(undefined, 'n'.repeat(129)))
    assert.deepEqual([res.status, res.body.error?.code], [401, 'AUTH_MISSING'])
  })

  it('an unknown AppKey, a wrong CheckSum and a CurTime 301 s off are each refused with their code', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ ...signed(), AppKey: 'no-such-app' }, 'APP_NOT_FOUND'],
      [signed('wrong-secret'), 'CHECKSUM_INVALID'],
      [signed(undefined, undefined, Math.floor(Date.now() / 1000) - 301), 'CURTIME_EXPIRED'],
      [signed(undefined, undefined, Math.floor(Date.now() / 1000) + 301), 'CURTIME_EXPIRED'],
    ]
    for (const [headers, code] of cases) {
      const res = await raw(headers)
      assert.deepEqual([res.status, res.body.error?.code], [401, code])
    }
  })

  it('a reused Nonce is refused within the window, while another app may use the same Nonce', async () => {
    const nonce = randomUUID()
    assert.equal((await raw(signed(undefined, nonce))).status, 404)
    const again = await raw(signed(undefined, nonce))
    assert.deepEqual([again.status, again.body.error?.code], [401, 'NONCE_REUSED'])
    const other = await server.createApp({ name: 'other' })
    const curTime = Math.floor(Date.now() / 1000)
    const res = await raw({
      AppKey: other.appKey,
      Nonce: nonce,
      CurTime: String(curTime),
      CheckSum: createHash('sha1').update(`${other.appSecret}${nonce}${curTime}`).digest('hex'),
    })
    assert.equal(res.status, 404)
  })

  it('/healthz needs no auth; /metrics does and serves Prometheus text', async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401)
    const res = await fetch(`${server.url}/metrics`, { headers: signed() })
    assert.equal(res.status, 200)
    const text = await res.text()
    assert.match(text, /^ringkit_sessions /m)
    assert.match(text, /^ringkit_calls_started_total /m)
  })
})

describe('accounts and tokens', () => {
  it('create, read, update; a duplicate is 409 and an unknown account 404', async () => {
    const created = await server.rest('POST', '/v1/accounts', {
      accid: 'rest-1',
      name: 'Ann',
      avatar: 'https://x/a.png',
    })
    assert.equal(created.status, 201)
    assert.deepEqual([created.body.accid, created.body.name, created.body.avatar], ['rest-1', 'Ann', 'https://x/a.png'])
    const dup = await server.rest('POST', '/v1/accounts', { accid: 'rest-1' })
    assert.deepEqual([dup.status, dup.body.error.code], [409, 'ACCOUNT_EXISTS'])
    const patched = await server.rest('PATCH', '/v1/accounts/rest-1', { name: 'Anna' })
    assert.deepEqual([patched.status, patched.body.name, patched.body.avatar], [200, 'Anna', 'https://x/a.png'])
    assert.equal((await server.rest('GET', '/v1/accounts/rest-1')).body.name, 'Anna')
    const missing = await server.rest('GET', '/v1/accounts/nobody')
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('bad bodies and accids are 400 INVALID_PARAMS', async () => {
    for (const body of [
      { accid: 'has space' },
      { accid: 'x'.repeat(65) },
      { accid: 'ok', extra: 1 },
      { name: 'no accid' },
      { accid: 5 },
    ]) {
      const res = await server.rest('POST', '/v1/accounts', body)
      assert.deepEqual([res.status, res.body.error.code], [400, 'INVALID_PARAMS'], JSON.stringify(body))
    }
    const notJson = await fetch(`${server.url}/v1/accounts`, {
      method: 'POST',
      headers: { ...signed(), 'content-type': 'application/json' },
      body: '{',
    })
    assert.equal(notJson.status, 400)
    assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'INVALID_PARAMS')
  })

  it('tokens last 24 h by default and at most 7 days; unknown accounts get none', async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'rest-2' })
    const before = Date.now()
    const issued = await server.rest('POST', '/v1/tokens', { accid: 'rest-2' })
    assert.equal(issued.status, 200)
    assert.ok(Math.abs(issued.body.expiresAt - (before + 24 * 3600_000)) < 5000)
    const tooLong = await server.rest('POST', '/v1/tokens', { accid: 'rest-2', ttlSeconds: 7 * 24 * 3600 + 1 })
    assert.deepEqual([tooLong.status, tooLong.body.error.code], [400, 'INVALID_PARAMS'])
    const unknown = await server.rest('POST', '/v1/tokens', { accid: 'nobody' })
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('revoking kicks the devices; the old token is refused with TOKEN_REVOKED; a new one works', async () => {
    const device = await TestDevice.online(server, 'rest-3')
    const oldToken = await tokenFor(server, 'rest-3')
    const res = await server.rest('POST', '/v1/accounts/rest-3/revoke')
    assert.equal(res.status, 200)
    assert.deepEqual(await device.next('kickedOffline'), { reason: 'revoked' })
    assert.equal(device.kit.online, false)
    const again = new TestDevice(server, 'rest-3')
    await assert.rejects(again.kit.login({ accid: 'rest-3', token: oldToken }), { code: 'TOKEN_REVOKED' })
    await again.kit.login({ accid: 'rest-3', token: await tokenFor(server, 'rest-3') })
    assert.equal(again.kit.online, true)
    const unknown = await server.rest('POST', '/v1/accounts/nobody/revoke')
    assert.equal(unknown.status, 404)
  })

  it('an expired token, a token of another app and a token of another account are refused at login', async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'rest-4' })
    const expired = await createToken({ ...server.app, accid: 'rest-4', ttlSeconds: 60, now: Date.now() - 120_000 })
    const other = await server.createApp({ name: 'another' })
    const foreign = await createToken({ ...other, accid: 'rest-4' })
    const someoneElse = await createToken({ ...server.app, accid: 'rest-1' })
    for (const [token, code] of [
      [expired.token, 'TOKEN_EXPIRED'],
      [foreign.token, 'TOKEN_INVALID'],
      [someoneElse.token, 'TOKEN_INVALID'],
      ['not-a-jwt', 'TOKEN_INVALID'],
    ] as const) {
      const device = new TestDevice(server, 'rest-4')
      await assert.rejects(device.kit.login({ accid: 'rest-4', token }), { code })
    }
  })

  it('a device whose token runs out while logged in gets tokenExpired', async () => {
    const device = new TestDevice(server, 'rest-5')
    await device.kit.login({ accid: 'rest-5', token: await tokenFor(server, 'rest-5', 1) })
    await device.next('tokenExpired', () => true, 3000)
    assert.equal(device.kit.online, false)
  })

  it('a token provider renews the token before it expires, and the device stays online', async () => {
    const device = new TestDevice(server, 'rest-6')
    let issued = 0
    await device.kit.login({
      accid: 'rest-6',
      tokenProvider: async () => {
        issued++
        return tokenFor(server, 'rest-6', 2)
      },
    })
    await new Promise((r) => setTimeout(r, 3500))
    assert.ok(issued >= 2, `renewed ${issued - 1} times`)
    assert.equal(device.kit.online, true)
    assert.ok(device.seen.every((s) => s.name !== 'tokenExpired'))
  })
})

describe('call history', () => {
  it('pages newest first through every record of an account, with no duplicates', async () => {
    const alice = await TestDevice.online(server, 'hist-a')
    const bob = await TestDevice.online(server, 'hist-b')
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
      await bob.next('invited')
      await call.cancel()
      await alice.next('record')
      ids.push(call.callId)
    }
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const res = await server.rest('GET', `/v1/accounts/hist-b/calls?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      assert.equal(res.status, 200)
      seen.push(...res.body.records.map((r: { callId: string }) => r.callId))
      cursor = res.body.nextCursor
      pages++
    } while (cursor)
    assert.deepEqual(seen, [...ids].reverse())
    assert.equal(pages, 3)
    const sdk = await bob.kit.getCallHistory({ limit: 5 })
    assert.deepEqual(
      sdk.records.map((r) => r.callId),
      [...ids].reverse(),
    )
    const garbage = await server.rest('GET', '/v1/accounts/hist-b/calls?cursor=bm9jb2xvbg')
    assert.deepEqual([garbage.status, garbage.body.error.code], [400, 'INVALID_PARAMS'])
    const unknown = await server.rest('GET', '/v1/calls/no-such-call')
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'CALL_NOT_FOUND'])
  })
})
