import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { CallRecord } from '@ringkit/protocol'
import { computeCheckSum, createToken, type App } from '../src/index.ts'
import { rest, startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'

let server: TestServer
let other: App

before(async () => {
  server = await startTestServer()
  other = await server.createApp({ name: 'other' })
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** The four auth headers, correct unless told otherwise, so each can be broken on purpose. */
function signed(
  o: { app?: Pick<App, 'appKey' | 'appSecret'>; secret?: string; nonce?: string; curTime?: number } = {},
): { AppKey: string; Nonce: string; CurTime: string; CheckSum: string } {
  const app = o.app ?? server.app
  const nonce = o.nonce ?? randomUUID()
  const curTime = String(o.curTime ?? nowSeconds())
  return {
    AppKey: app.appKey,
    Nonce: nonce,
    CurTime: curTime,
    CheckSum: computeCheckSum(o.secret ?? app.appSecret, nonce, curTime),
  }
}

interface ErrorReply {
  error?: { code: string; message: string }
}

/** A GET with exactly these headers. */
async function get(path: string, headers: Record<string, string>) {
  const res = await fetch(`${server.url}${path}`, { headers })
  const text = await res.text()
  return { status: res.status, text, body: (text.startsWith('{') ? JSON.parse(text) : {}) as ErrorReply }
}

/** Status and error code of a reply, to compare in one assertion. */
const outcome = (res: { status: number; body: ErrorReply | undefined }) => [res.status, res.body?.error?.code]

describe('REST authentication', () => {
  it('a correctly signed request reaches the route', async () => {
    assert.deepEqual(outcome(await get('/v1/accounts/nobody', signed())), [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('a request missing any one of the four headers is 401 AUTH_MISSING', async () => {
    for (const header of ['AppKey', 'Nonce', 'CurTime', 'CheckSum']) {
      const headers: Record<string, string> = signed()
      delete headers[header]
      assert.deepEqual(outcome(await get('/v1/accounts/nobody', headers)), [401, 'AUTH_MISSING'], header)
    }
  })

  it('a Nonce of 129 characters is 401 AUTH_MISSING; one of 128 is accepted', async () => {
    const long = await get('/v1/accounts/nobody', signed({ nonce: 'n'.repeat(129) }))
    assert.deepEqual(outcome(long), [401, 'AUTH_MISSING'])
    assert.match(long.body.error?.message ?? '', /Nonce/)
    assert.equal((await get('/v1/accounts/nobody', signed({ nonce: 'n'.repeat(128) }))).status, 404)
  })

  it('an unknown AppKey is 401 APP_NOT_FOUND', async () => {
    const headers = { ...signed(), AppKey: 'no-such-app' }
    assert.deepEqual(outcome(await get('/v1/accounts/nobody', headers)), [401, 'APP_NOT_FOUND'])
  })

  it('a CheckSum made with another secret is 401 CHECKSUM_INVALID', async () => {
    assert.deepEqual(outcome(await get('/v1/accounts/nobody', signed({ secret: other.appSecret }))), [
      401,
      'CHECKSUM_INVALID',
    ])
    const flipped = signed()
    flipped.CheckSum = `${flipped.CheckSum.slice(0, -1)}${flipped.CheckSum.endsWith('0') ? '1' : '0'}`
    assert.deepEqual(outcome(await get('/v1/accounts/nobody', flipped)), [401, 'CHECKSUM_INVALID'])
  })

  it('a CurTime 301 s in the past or in the future is 401 CURTIME_EXPIRED; 290 s off is accepted', async () => {
    for (const skew of [-301, 301]) {
      const res = await get('/v1/accounts/nobody', signed({ curTime: nowSeconds() + skew }))
      assert.deepEqual(outcome(res), [401, 'CURTIME_EXPIRED'], `skew ${skew}`)
    }
    for (const skew of [-290, 290]) {
      assert.equal((await get('/v1/accounts/nobody', signed({ curTime: nowSeconds() + skew }))).status, 404)
    }
  })

  it('a reused Nonce is 401 NONCE_REUSED, while another app may use the same Nonce', async () => {
    const nonce = randomUUID()
    assert.equal((await get('/v1/accounts/nobody', signed({ nonce }))).status, 404)
    // A new CurTime and so a new CheckSum do not make an old Nonce new.
    const replay = await get('/v1/accounts/nobody', signed({ nonce, curTime: nowSeconds() + 1 }))
    assert.deepEqual(outcome(replay), [401, 'NONCE_REUSED'])
    const elsewhere = await get('/v1/accounts/nobody', signed({ app: other, nonce }))
    assert.deepEqual(outcome(elsewhere), [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('/healthz and /readyz need no auth', async () => {
    const res = await fetch(`${server.url}/healthz`)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { ok: true, status: 'ok' })
    const ready = await fetch(`${server.url}/readyz`)
    assert.equal(ready.status, 200)
    assert.deepEqual(await ready.json(), { ready: true })
  })

  it('/metrics needs auth, however its path is spelled, and serves Prometheus text', async () => {
    for (const path of ['/metrics', '/metrics?format=text', '/%6detrics']) {
      assert.deepEqual(outcome(await get(path, {})), [401, 'AUTH_MISSING'], path)
    }
    assert.deepEqual(outcome(await get('/metrics', signed({ secret: 'wrong' }))), [401, 'CHECKSUM_INVALID'])
    const res = await get('/metrics', signed())
    assert.equal(res.status, 200)
    assert.match(res.text, /^# TYPE ringkit_calls_started_total counter$/m)
    assert.doesNotMatch(res.text, /ringkit_active_calls/, 'a gauge two nodes would each move half of')
    assert.match(res.text, /^ringkit_sessions \d+$/m)
    // The refusals above were counted.
    assert.match(res.text, /^ringkit_http_errors_total\{code="CHECKSUM_INVALID"\} [1-9]\d*$/m)
  })
})

describe('accounts', () => {
  it('create is 201 with the account; a duplicate is 409 ACCOUNT_EXISTS and changes nothing', async () => {
    const created = await server.rest('POST', '/v1/accounts', { accid: 'ann', name: 'Ann', avatar: 'https://x/a.png' })
    assert.equal(created.status, 201)
    assert.deepEqual([created.body.accid, created.body.name, created.body.avatar], ['ann', 'Ann', 'https://x/a.png'])
    const dup = await server.rest('POST', '/v1/accounts', { accid: 'ann', name: 'Impostor' })
    assert.deepEqual(outcome(dup), [409, 'ACCOUNT_EXISTS'])
    const read = await server.rest('GET', '/v1/accounts/ann')
    assert.equal(read.status, 200)
    assert.deepEqual(read.body, created.body)
  })

  it('patch changes only the fields given; get reads them back', async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'ben', name: 'Ben', avatar: 'https://x/b.png' })
    const patched = await server.rest('PATCH', '/v1/accounts/ben', { name: 'Benjamin' })
    assert.equal(patched.status, 200)
    assert.deepEqual([patched.body.name, patched.body.avatar], ['Benjamin', 'https://x/b.png'])
    const read = await server.rest('GET', '/v1/accounts/ben')
    assert.deepEqual([read.body.name, read.body.avatar], ['Benjamin', 'https://x/b.png'])
  })

  it('an unknown account is 404 ACCOUNT_NOT_FOUND, also in another app', async () => {
    assert.deepEqual(outcome(await server.rest('GET', '/v1/accounts/nobody')), [404, 'ACCOUNT_NOT_FOUND'])
    assert.deepEqual(outcome(await server.rest('PATCH', '/v1/accounts/nobody', { name: 'x' })), [
      404,
      'ACCOUNT_NOT_FOUND',
    ])
    await server.rest('POST', '/v1/accounts', { accid: 'cat' })
    assert.deepEqual(outcome(await rest(server.url, other)('GET', '/v1/accounts/cat')), [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('an invalid accid or body is 400 INVALID_PARAMS', async () => {
    for (const body of [
      { accid: 'has space' },
      { accid: '' },
      { accid: 'x'.repeat(65) },
      { accid: 5 },
      { name: 'no accid' },
      { accid: 'dan', extra: 1 },
      { accid: 'dan', name: 7 },
      { accid: 'dan', name: 'n'.repeat(65) },
    ]) {
      const res = await server.rest('POST', '/v1/accounts', body)
      assert.deepEqual(outcome(res), [400, 'INVALID_PARAMS'], JSON.stringify(body))
    }
    assert.deepEqual(outcome(await server.rest('GET', '/v1/accounts/dan')), [404, 'ACCOUNT_NOT_FOUND'])
    for (const path of ['/v1/accounts/has%20space', `/v1/accounts/${'x'.repeat(65)}`]) {
      assert.deepEqual(outcome(await server.rest('GET', path)), [400, 'INVALID_PARAMS'], path)
    }
    await server.rest('POST', '/v1/accounts', { accid: 'dan' })
    assert.deepEqual(outcome(await server.rest('PATCH', '/v1/accounts/dan', { accid: 'eve' })), [400, 'INVALID_PARAMS'])
    assert.deepEqual(outcome(await server.rest('PATCH', '/v1/accounts/dan', { avatar: 1 })), [400, 'INVALID_PARAMS'])
    const notJson = await fetch(`${server.url}/v1/accounts`, {
      method: 'POST',
      headers: { ...signed(), 'content-type': 'application/json' },
      body: '{"accid":',
    })
    assert.deepEqual(outcome({ status: notJson.status, body: (await notJson.json()) as ErrorReply }), [
      400,
      'INVALID_PARAMS',
    ])
  })
})

describe('tokens', () => {
  it('last 24 h by default, exactly 7 days at most; an unknown account gets none', async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'tok' })
    const before = Date.now()
    const issued = await server.rest('POST', '/v1/tokens', { accid: 'tok' })
    const after = Date.now()
    assert.equal(issued.status, 200)
    assert.equal(issued.body.accid, 'tok')
    assert.equal(typeof issued.body.token, 'string')
    // `exp` has whole seconds, so the expiry may round up by less than one.
    assert.ok(issued.body.expiresAt >= before + 24 * 3600_000, `expiresAt ${issued.body.expiresAt}`)
    assert.ok(issued.body.expiresAt < after + 24 * 3600_000 + 1000, `expiresAt ${issued.body.expiresAt}`)

    const week = await server.rest('POST', '/v1/tokens', { accid: 'tok', ttlSeconds: 7 * 24 * 3600 })
    assert.equal(week.status, 200)
    assert.ok(week.body.expiresAt >= before + 7 * 24 * 3600_000)
    for (const ttlSeconds of [7 * 24 * 3600 + 1, 0, 1.5, '60']) {
      const refused = await server.rest('POST', '/v1/tokens', { accid: 'tok', ttlSeconds })
      assert.deepEqual(outcome(refused), [400, 'INVALID_PARAMS'], String(ttlSeconds))
    }
    assert.deepEqual(outcome(await server.rest('POST', '/v1/tokens', { accid: 'nobody' })), [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('a token from the REST API logs a device in', async () => {
    const device = new TestDevice(server, 'tok-login')
    await device.kit.login({ accid: 'tok-login', token: await tokenFor(server, 'tok-login') })
    assert.equal(device.kit.online, true)
  })

  it('an expired token is refused at login with TOKEN_EXPIRED', async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'tok-old' })
    const expired = await createToken({ ...server.app, accid: 'tok-old', ttlSeconds: 60, now: Date.now() - 120_000 })
    await assert.rejects(new TestDevice(server, 'tok-old').kit.login({ accid: 'tok-old', token: expired.token }), {
      code: 'TOKEN_EXPIRED',
    })
    // Made in the past but not yet expired: accepted, so it is the expiry that was refused above.
    const aging = await createToken({ ...server.app, accid: 'tok-old', ttlSeconds: 60, now: Date.now() - 30_000 })
    await new TestDevice(server, 'tok-old').kit.login({ accid: 'tok-old', token: aging.token })
  })

  it("a token signed with another app's secret is refused at login with TOKEN_INVALID", async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'tok-forged' })
    const forged = await createToken({ appKey: server.app.appKey, appSecret: other.appSecret, accid: 'tok-forged' })
    const foreign = await createToken({ ...other, accid: 'tok-forged' })
    const someoneElse = await createToken({ ...server.app, accid: 'ann' })
    for (const token of [forged.token, foreign.token, someoneElse.token, 'not-a-jwt']) {
      const device = new TestDevice(server, 'tok-forged')
      await assert.rejects(device.kit.login({ accid: 'tok-forged', token }), { code: 'TOKEN_INVALID' })
    }
    const genuine = await createToken({ ...server.app, accid: 'tok-forged' })
    await new TestDevice(server, 'tok-forged').kit.login({ accid: 'tok-forged', token: genuine.token })
  })

  it('a device whose token runs out while logged in gets tokenExpired at expiresAt and is logged out', async () => {
    await server.rest('POST', '/v1/accounts', { accid: 'tok-short' })
    const issued = await server.rest('POST', '/v1/tokens', { accid: 'tok-short', ttlSeconds: 2 })
    const device = new TestDevice(server, 'tok-short')
    await device.kit.login({ accid: 'tok-short', token: issued.body.token })
    await device.next('tokenExpired', () => true, 4000)
    const at = device.seen.find((s) => s.name === 'tokenExpired')!.at
    const expiresAt = issued.body.expiresAt as number
    assert.ok(at >= expiresAt - 50, `tokenExpired ${expiresAt - at} ms before the reported expiresAt`)
    assert.ok(at < expiresAt + 1000, `tokenExpired ${at - expiresAt} ms after expiresAt`)
    assert.equal(device.kit.online, false)
    // The server dropped the session too: nobody can ring that account now.
    const caller = await TestDevice.online(server, 'tok-caller')
    await assert.rejects(caller.kit.call({ to: 'tok-short', type: 'audio' }), { code: 'CALLEE_OFFLINE' })
  })

  it('a token provider renews the token before it expires, and the device stays online', async () => {
    const device = new TestDevice(server, 'tok-renew')
    let issued = 0
    await device.kit.login({
      accid: 'tok-renew',
      tokenProvider: async () => {
        issued++
        return tokenFor(server, 'tok-renew', 2)
      },
    })
    await new Promise((r) => setTimeout(r, 3500))
    assert.ok(issued >= 2, `renewed ${issued - 1} times`)
    assert.equal(device.kit.online, true)
    assert.ok(device.seen.every((s) => s.name !== 'tokenExpired'))
  })
})

describe('revocation', () => {
  it("kicks every device of the account with reason 'revoked'; old tokens get TOKEN_REVOKED, new ones work", async () => {
    const phone = await TestDevice.online(server, 'rev', { deviceId: 'phone' })
    const laptop = await TestDevice.online(server, 'rev', { deviceId: 'laptop' })
    const bystander = await TestDevice.online(server, 'rev-bystander')
    const oldToken = await tokenFor(server, 'rev')

    const res = await server.rest('POST', '/v1/accounts/rev/revoke')
    assert.deepEqual([res.status, res.body], [200, { accid: 'rev', revoked: true }])
    assert.deepEqual(await phone.next('kickedOffline'), { reason: 'revoked' })
    assert.deepEqual(await laptop.next('kickedOffline'), { reason: 'revoked' })
    assert.equal(phone.kit.online, false)
    assert.equal(laptop.kit.online, false)
    assert.ok(await bystander.quiet('kickedOffline'), 'other accounts stay logged in')
    await assert.rejects(bystander.kit.call({ to: 'rev', type: 'audio' }), { code: 'CALLEE_OFFLINE' })

    const again = new TestDevice(server, 'rev', { deviceId: 'phone' })
    await assert.rejects(again.kit.login({ accid: 'rev', token: oldToken }), { code: 'TOKEN_REVOKED' })
    await again.kit.login({ accid: 'rev', token: await tokenFor(server, 'rev') })
    assert.equal(again.kit.online, true)

    assert.deepEqual(outcome(await server.rest('POST', '/v1/accounts/nobody/revoke')), [404, 'ACCOUNT_NOT_FOUND'])
  })
})

describe('call records', () => {
  it('history pages newest first through every record of an account, with no duplicates', async () => {
    const alice = await TestDevice.online(server, 'hist-a')
    const bob = await TestDevice.online(server, 'hist-b')
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
      await bob.next('invited')
      await call.cancel()
      await Promise.all([alice.next('record'), bob.next('record')])
      ids.push(call.callId)
      // Distinct end times, so newest-first has one right answer.
      await new Promise((r) => setTimeout(r, 5))
    }
    const newestFirst = [...ids].reverse()
    for (const accid of ['hist-a', 'hist-b']) {
      const seen: CallRecord[] = []
      const sizes: number[] = []
      let cursor: string | undefined
      do {
        const query = `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
        const res = await server.rest('GET', `/v1/accounts/${accid}/calls?${query}`)
        assert.equal(res.status, 200)
        sizes.push(res.body.records.length)
        seen.push(...(res.body.records as CallRecord[]))
        cursor = res.body.nextCursor
        assert.ok(sizes.length <= 5, 'paging does not end')
      } while (cursor)
      assert.deepEqual(sizes, [2, 2, 1], accid)
      assert.deepEqual(
        seen.map((r) => r.callId),
        newestFirst,
        accid,
      )
      for (const r of seen) assert.deepEqual((await server.rest('GET', `/v1/calls/${r.callId}`)).body, r)
    }
    const all = await server.rest('GET', '/v1/accounts/hist-b/calls?limit=5')
    assert.equal(all.body.nextCursor, undefined, 'no cursor past the last page')
    const garbage = await server.rest('GET', '/v1/accounts/hist-b/calls?limit=2&cursor=not-a-cursor')
    assert.deepEqual(outcome(garbage), [400, 'INVALID_PARAMS'])
    assert.deepEqual(outcome(await server.rest('GET', '/v1/accounts/hist-b/calls?limit=0')), [400, 'INVALID_PARAMS'])
    assert.deepEqual(outcome(await server.rest('GET', '/v1/accounts/nobody/calls')), [404, 'ACCOUNT_NOT_FOUND'])
  })

  it('an unknown callId, or a call of another app, is 404 CALL_NOT_FOUND', async () => {
    assert.deepEqual(outcome(await server.rest('GET', '/v1/calls/no-such-call')), [404, 'CALL_NOT_FOUND'])
    const carol = await TestDevice.online(server, 'rec-carol')
    const dave = await TestDevice.online(server, 'rec-dave')
    const { callId } = await carol.kit.call({ to: dave.accid, type: 'video' })
    await (await dave.next('invited')).call.reject()
    const record = await carol.next('record')
    assert.deepEqual(await server.rest('GET', `/v1/calls/${callId}`), { status: 200, body: record })
    assert.deepEqual(outcome(await rest(server.url, other)('GET', `/v1/calls/${callId}`)), [404, 'CALL_NOT_FOUND'])
  })
})
