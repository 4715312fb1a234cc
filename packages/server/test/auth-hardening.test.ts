import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { computeCheckSum, createToken } from '../src/index.ts'
import { signedHeaders, startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'
import { RawSocket } from './raw-socket.ts'

let server: TestServer

before(async () => {
  server = await startTestServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

type Headers = Record<string, string>

/** Headers a backend signed for this Nonce at this instant, as an eavesdropper would capture them. */
function captured(nonce: string, curTime = String(Math.floor(Date.now() / 1000))): Headers {
  return {
    AppKey: server.app.appKey,
    Nonce: nonce,
    CurTime: curTime,
    CheckSum: computeCheckSum(server.app.appSecret, nonce, curTime),
  }
}

async function send(method: string, path: string, headers: Headers, body?: string) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body }),
  })
  const text = await res.text()
  const json = (text ? JSON.parse(text) : {}) as { error?: { code: string; message: string } } & Record<string, unknown>
  return { status: res.status, code: json.error?.code, body: json }
}

/** What the account's devices would see of a token issued now: whether any was issued is not visible, so count logins. */
async function tokenWorks(accid: string, token: string): Promise<boolean> {
  const device = new TestDevice(server, accid, { deviceId: randomUUID() })
  try {
    await device.kit.login({ accid, token })
    return true
  } catch {
    return false
  } finally {
    await device.close()
  }
}

describe('CheckSum replay', () => {
  it('a captured request cut again (Nonce "…0" sent as Nonce "…" and CurTime "0<time>") is 401 AUTH_MISSING, as GET or as POST /v1/tokens', async () => {
    await tokenFor(server, 'replay-target')
    const original = captured(`${randomUUID()}0`)
    assert.equal((await send('GET', '/v1/accounts/replay-target', original)).status, 200)
    const resplit = { ...original, Nonce: original.Nonce!.slice(0, -1), CurTime: `0${original.CurTime}` }
    assert.equal(
      computeCheckSum(server.app.appSecret, resplit.Nonce, resplit.CurTime),
      original.CheckSum,
      'the cut leaves the CheckSum valid',
    )
    const asGet = await send('GET', '/v1/accounts/replay-target', resplit)
    assert.deepEqual([asGet.status, asGet.code], [401, 'AUTH_MISSING'])
    assert.match(asGet.body.error?.message ?? '', /CurTime/)
    const asPost = await send('POST', '/v1/tokens', resplit, JSON.stringify({ accid: 'replay-target' }))
    assert.deepEqual([asPost.status, asPost.code, asPost.body.token], [401, 'AUTH_MISSING', undefined])
  })

  it('a captured GET replayed as POST /v1/tokens is 401 NONCE_REUSED and issues no token', async () => {
    await tokenFor(server, 'replay-victim')
    const headers = captured(randomUUID())
    assert.equal((await send('GET', '/v1/accounts/replay-victim', headers)).status, 200)
    const replay = await send('POST', '/v1/tokens', headers, JSON.stringify({ accid: 'replay-victim' }))
    assert.deepEqual([replay.status, replay.code, replay.body.token], [401, 'NONCE_REUSED', undefined])
    // The same CheckSum in upper case is the same CheckSum.
    const upper = { ...headers, CheckSum: headers.CheckSum!.toUpperCase() }
    assert.equal((await send('POST', '/v1/tokens', upper, '{"accid":"replay-victim"}')).code, 'NONCE_REUSED')
    // The backend's own requests go on.
    const fresh = await server.rest('POST', '/v1/tokens', { accid: 'replay-victim' })
    assert.equal(fresh.status, 200)
    assert.equal(await tokenWorks('replay-victim', fresh.body.token as string), true)
  })
})

describe('body-less routes', () => {
  it('POST /v1/accounts/:accid/revoke with Content-Type: application/json and an empty body revokes', async () => {
    const token = await tokenFor(server, 'empty-body')
    const res = await send('POST', '/v1/accounts/empty-body/revoke', captured(randomUUID()), '')
    assert.deepEqual([res.status, res.body], [200, { accid: 'empty-body', revoked: true }])
    assert.equal(await tokenWorks('empty-body', token), false)
    const withCharset = await fetch(`${server.url}/v1/accounts/empty-body/revoke`, {
      method: 'POST',
      headers: { ...captured(randomUUID()), 'content-type': 'application/json; charset=utf-8' },
      body: '',
    })
    assert.equal(withCharset.status, 200)
  })

  it('a route that needs a body still refuses an empty or malformed one with 400 INVALID_PARAMS', async () => {
    for (const body of ['', '{"accid":', ' ']) {
      const res = await send('POST', '/v1/accounts', captured(randomUUID()), body)
      assert.deepEqual([res.status, res.code], [400, 'INVALID_PARAMS'], JSON.stringify(body))
    }
    const poisoned = await send('POST', '/v1/accounts', captured(randomUUID()), '{"__proto__":{"x":1},"accid":"p"}')
    assert.deepEqual([poisoned.status, poisoned.code], [400, 'INVALID_PARAMS'])
    assert.equal((await server.rest('GET', '/v1/accounts/p')).status, 404)
  })
})

describe('login', () => {
  /** The error a raw login gets: code and message. */
  async function loginError(accid: string, token: string): Promise<unknown> {
    const socket = await RawSocket.open(server)
    try {
      socket.send({ type: 'login', id: 'l', appKey: server.app.appKey, accid, token, deviceId: 'probe' })
      return (await socket.answer('l'))?.error
    } finally {
      socket.close()
    }
  }

  it('answers an unknown account exactly as a bad token: TOKEN_INVALID, same message', async () => {
    await tokenFor(server, 'known')
    const forged = (await createToken({ appKey: server.app.appKey, appSecret: 'not-the-secret', accid: 'known' })).token
    const badToken = await loginError('known', forged)
    const minted = await createToken({ ...server.app, accid: 'never-created' })
    const unknown = await loginError('never-created', minted.token)
    const unknownForged = await loginError('never-created-either', forged)
    assert.deepEqual(badToken, {
      code: 'TOKEN_INVALID',
      message: 'The token is malformed, badly signed or for another app or account.',
    })
    assert.deepEqual(unknown, badToken)
    assert.deepEqual(unknownForged, badToken)
  })

  it('refuses a token whose lifetime exceeds 7 days with TOKEN_INVALID, though its signature is good', async () => {
    await tokenFor(server, 'long-lived')
    const now = Math.floor(Date.now() / 1000)
    const mint = async (lifetimeSeconds: number) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(server.app.appKey)
        .setSubject('long-lived')
        .setAudience('ringkit')
        .setIssuedAt(now)
        .setExpirationTime(now + lifetimeSeconds)
        .sign(new TextEncoder().encode(server.app.appSecret))
    assert.deepEqual(await loginError('long-lived', await mint(30 * 24 * 3600)), {
      code: 'TOKEN_INVALID',
      message: 'The token is malformed, badly signed or for another app or account.',
    })
    assert.equal(await tokenWorks('long-lived', await mint(7 * 24 * 3600)), true)
  })
})

describe('slow HTTP clients', () => {
  let slow: TestServer
  before(async () => {
    // No heartbeat within the test: a WebSocket's only traffic is what the test sends.
    slow = await startTestServer({ limits: { http: { requestMs: 300, idleMs: 1200 } }, heartbeatMs: 60_000 })
  })
  after(async () => slow.close())

  /** Opens a TCP connection, writes `text`, and collects what comes back until the server closes it. */
  async function rawHttp(text: string): Promise<{ reply: string; closedAfterMs: number }> {
    const socket = connect(slow.port, '127.0.0.1')
    const started = performance.now()
    let reply = ''
    socket.on('data', (chunk) => (reply += String(chunk)))
    socket.write(text)
    const timer = setTimeout(() => socket.destroy(), 5000)
    await new Promise((resolve) => socket.once('close', resolve))
    clearTimeout(timer)
    return { reply, closedAfterMs: performance.now() - started }
  }

  it('a body that trickles in is cut off with 408 REQUEST_TOO_SLOW', async () => {
    const headers = Object.entries(signedHeaders(slow.app)).map(([k, v]) => `${k}: ${v}\r\n`)
    const { reply, closedAfterMs } = await rawHttp(
      `POST /v1/accounts HTTP/1.1\r\nHost: x\r\n${headers.join('')}Content-Type: application/json\r\n` +
        'Content-Length: 100\r\n\r\n{"accid":',
    )
    assert.match(reply, /^HTTP\/1\.1 408 /)
    assert.equal(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error.code, 'REQUEST_TOO_SLOW')
    assert.ok(closedAfterMs < 1200, `closed after ${Math.round(closedAfterMs)} ms, before the idle time`)
    // Nothing of it was acted on, and a prompt request goes through.
    assert.equal((await slow.rest('GET', '/healthz')).status, 200)
  })

  it('a connection that sends nothing gets 408 REQUEST_TOO_SLOW and is closed', async () => {
    const { reply, closedAfterMs } = await rawHttp('')
    assert.match(reply, /^HTTP\/1\.1 408 [^]*"REQUEST_TOO_SLOW"/)
    assert.ok(closedAfterMs >= 250 && closedAfterMs < 1200, `closed after ${Math.round(closedAfterMs)} ms`)
  })

  it('what is not HTTP, or has headers too large, is refused with a code as well', async () => {
    const garbage = await rawHttp('HELLO\r\n\r\n')
    assert.match(garbage.reply, /^HTTP\/1\.1 400 [^]*"INVALID_PARAMS"/)
    const huge = await rawHttp(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    assert.match(huge.reply, /^HTTP\/1\.1 431 [^]*"FRAME_TOO_LARGE"/)
  })

  it('a logged-in WebSocket is bound by neither the HTTP request time nor its idle time', async () => {
    const device = await TestDevice.online(slow, 'quiet-socket')
    await new Promise((resolve) => setTimeout(resolve, 2000))
    assert.deepEqual((await device.kit.getCallHistory()).records, [])
    assert.deepEqual(device.names(), [], 'no disconnect, no reconnect')
  })
})

describe('the data dir', () => {
  it('is 0700 and its database 0600 with its -wal and -shm files, whatever the umask of the process embedding the server', async (t) => {
    const parent = mkdtempSync(join(tmpdir(), 'ringkit-modes-'))
    t.after(() => rmSync(parent, { recursive: true, force: true }))
    const previous = process.umask(0o022)
    t.after(() => process.umask(previous))
    const dataDir = join(parent, 'data')
    const embedded = await startTestServer({ dataDir })
    try {
      assert.equal((await embedded.rest('POST', '/v1/accounts', { accid: 'modes' })).status, 201)
      const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)
      assert.equal(mode(dataDir), '700')
      for (const file of ['ringkit.db', 'ringkit.db-wal', 'ringkit.db-shm'])
        assert.equal(mode(join(dataDir, file)), '600', file)
    } finally {
      await embedded.close()
    }
  })
})
