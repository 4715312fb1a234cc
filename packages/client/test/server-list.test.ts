import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import WebSocket, { WebSocketServer } from 'ws'
import { RECORD_STATUS, RingKitError } from '@ringkit/protocol'
import { RingKit, type WebSocketConstructor } from '../src/index.ts'
import { startTestServer, TestDevice, tokenFor, type TestServer } from '../../server/test/support.ts'

/** Two servers of one app (same AppKey and AppSecret, each its own data): a token of one verifies on the other. */
const app = { appKey: 'list-app', appSecret: randomBytes(24).toString('hex') }
let a: TestServer
let b: TestServer
let aClosed = false

before(async () => {
  ;[a, b] = await Promise.all([startTestServer(app), startTestServer(app)])
})
after(async () => {
  await TestDevice.closeAll()
  await Promise.all([aClosed ? undefined : a.close(), b.close()])
})

/** A local URL where nothing listens: connections to it are refused. */
async function refusingUrl(): Promise<string> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  return `http://127.0.0.1:${port}`
}

const kitWith = (server: unknown) =>
  new RingKit({
    server: server as string,
    appKey: app.appKey,
    media: false,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  })

/** A device of an account made on both servers, so that it can log in on either. */
async function onBoth(accid: string, servers: string[]): Promise<TestDevice> {
  await tokenFor(b, accid)
  const device = new TestDevice(a, accid, { servers })
  await device.kit.login({ accid, token: await tokenFor(a, accid) })
  return device
}

describe('a list of servers', () => {
  it('refuses an empty list or a URL that is not http(s), with INVALID_PARAMS, before any connection', () => {
    for (const bad of [[], '', 'ftp://host', 'localhost:3000', ['http://ok:1', 'mailto:x'], [42]]) {
      assert.throws(
        () => kitWith(bad),
        (error: unknown) => error instanceof RingKitError && error.code === 'INVALID_PARAMS',
        JSON.stringify(bad),
      )
    }
    // One URL, as a string or a list of one, keeps working; so do ws(s) URLs, and a path prefix.
    for (const good of ['http://127.0.0.1:3000', ['https://a.example'], 'ws://a:1/base/']) kitWith(good)
  })

  it('logs in on the second server when the first refuses connections', async () => {
    const accid = 'firstDown'
    const device = await onBoth(accid, [await refusingUrl(), b.url])
    assert.equal(device.kit.online, true)
    // It is on b: a call from a device of b rings it.
    const caller = await TestDevice.online(b, 'firstDownCaller')
    await caller.kit.call({ to: accid, type: 'audio' })
    const { call } = await device.next('invited')
    await call.reject()
    assert.equal((await caller.next('record')).status, RECORD_STATUS.rejected)
  })

  it('moves on at once when a server takes the socket but closes it before answering the login', async () => {
    // A node dying under a login: without moving on at the close, the login would wait out its timeout.
    const dying = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    dying.on('connection', (socket) => socket.once('message', () => socket.terminate()))
    await new Promise((resolve) => dying.once('listening', resolve))
    const { port } = dying.address() as { port: number }
    const started = Date.now()
    const device = await onBoth('dyingFirst', [`http://127.0.0.1:${port}`, b.url])
    assert.equal(device.kit.online, true)
    assert.ok(Date.now() - started < 3000, `logged in after ${Date.now() - started} ms (request timeout 5 s)`)
    await new Promise((resolve) => dying.close(resolve))
  })

  it('a login fails with the last error when no server of the list answers', async () => {
    const kit = kitWith([await refusingUrl(), await refusingUrl()])
    const token = await tokenFor(a, 'nobodyHome')
    await assert.rejects(kit.login({ accid: 'nobodyHome', token }), { code: 'NOT_CONNECTED' })
    assert.equal(kit.online, false)
  })

  it('a bad token fails at once rather than trying the next server', async () => {
    const kit = kitWith([a.url, b.url])
    await tokenFor(a, 'badToken')
    await assert.rejects(kit.login({ accid: 'badToken', token: 'x.y.z' }), { code: 'TOKEN_INVALID' })
  })

  it('when its server dies, the device moves to the next one, logs in there afresh, and calls and is called', async () => {
    const alice = await onBoth('alice', [a.url, b.url])
    const carol = await TestDevice.online(a, 'carol')
    const bob = await TestDevice.online(b, 'bob')
    // A call alice places on a: a session of a cannot go on elsewhere yet, so it ends for her.
    const onA = await alice.kit.call({ to: 'carol', type: 'audio' })
    await carol.next('invited')

    aClosed = true
    await a.close()
    await alice.next('disconnect')
    const back = await alice.next('reconnected', undefined, 10_000)
    assert.equal(back.resumed, false, 'b had no session to resume: a new one')
    assert.equal((await alice.next('callEnd')).reason, 'disconnected')
    assert.equal(onA.status, 'ended')
    assert.equal(alice.kit.online, true)

    const out = await alice.kit.call({ to: 'bob', type: 'audio' })
    await (await bob.next('invited')).call.accept()
    await alice.next('userAccept')
    await out.hangup()
    assert.equal((await alice.next('record')).status, RECORD_STATUS.completed)
    assert.equal((await bob.next('record')).status, RECORD_STATUS.completed)

    await bob.kit.call({ to: 'alice', type: 'video' })
    const incoming = await alice.next('invited')
    assert.equal(incoming.from, 'bob')
    await incoming.call.reject()
    assert.equal((await bob.next('record')).status, RECORD_STATUS.rejected)
    await carol.close()
  })
})
