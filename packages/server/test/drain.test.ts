import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { RECORD_STATUS } from '@ringkit/protocol'
import { RawSocket } from './raw-socket.ts'
import { startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'

const app = { appKey: 'drain-app', appSecret: randomBytes(24).toString('hex') }
const servers: TestServer[] = []

afterEach(async () => {
  await TestDevice.closeAll()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const started = await startTestServer({ ...app, ...options })
  servers.push(started)
  return started
}

/** Two devices of `on` in an answered audio call. */
async function callOn(on: TestServer, caller: string, callee: string) {
  const alice = await TestDevice.online(on, caller)
  const bob = await TestDevice.online(on, callee)
  const call = await alice.kit.call({ to: callee, type: 'audio' })
  await (await bob.next('invited')).call.accept()
  await alice.next('userAccept')
  return { alice, bob, call }
}

const settled = (promise: Promise<unknown>) => {
  let done = false
  void promise.then(() => (done = true))
  return () => done
}

async function health(on: TestServer) {
  const [healthz, readyz] = await Promise.all([fetch(`${on.url}/healthz`), fetch(`${on.url}/readyz`)])
  return { healthz: healthz.status, health: await healthz.json(), readyz: readyz.status, ready: await readyz.json() }
}

describe('draining a node', () => {
  it('moves idle devices, refuses logins and calls, lets the call in progress end with its records, then closes', async () => {
    const a = await server({ drainTimeoutMs: 20_000 })
    const b = await server()
    const { alice, bob, call } = await callOn(a, 'alice', 'bob')
    await tokenFor(b, 'carol')
    const carol = await TestDevice.online(a, 'carol', { servers: [a.url, b.url] })
    const raw = await RawSocket.login(a, 'rawIdle')

    const drained = a.drain()
    assert.equal(a.drain(), drained, 'a second drain is the same one')
    const done = settled(drained)
    // The idle devices are asked to move (close code 4012), and the SDK moves to the next server of its list.
    assert.equal(await raw.closed, 4012)
    assert.match((await carol.next('disconnect')).reason, /moving to another/)
    assert.equal((await carol.next('reconnected', undefined, 3000)).resumed, false)
    await b.rest('POST', '/v1/accounts', { accid: 'dave' })
    const dave = await TestDevice.online(b, 'dave')
    await dave.kit.call({ to: 'carol', type: 'audio' })
    await (await carol.next('invited')).call.reject()
    assert.equal((await dave.next('record')).status, RECORD_STATUS.rejected, 'carol is logged in on b')

    // No new login on the draining node, and no new call from a device still on it.
    const late = new TestDevice(a, 'erin')
    await assert.rejects(late.kit.login({ accid: 'erin', token: await tokenFor(a, 'erin') }), {
      code: 'SERVER_DRAINING',
      retryable: true,
    })
    await assert.rejects(alice.kit.call({ to: 'erin', type: 'audio' }), { code: 'SERVER_DRAINING' })

    // The call goes on: both ends are still online, and the drain waits for them.
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.equal(done(), false, 'the drain waits for the call in progress')
    assert.equal(alice.kit.online && bob.kit.online, true)
    assert.equal(call.status, 'connected')
    // A device in the call that drops resumes its session there: a resume is not a new login.
    alice.kit.simulateNetworkDrop()
    assert.equal((await alice.next('reconnected')).resumed, true)
    assert.equal(call.status, 'connected')

    const hungUpAt = Date.now()
    await call.hangup()
    assert.equal((await alice.next('record')).status, RECORD_STATUS.completed)
    assert.equal((await bob.next('record')).status, RECORD_STATUS.completed)
    await drained
    assert.ok(Date.now() - hungUpAt < 3000, `drained ${Date.now() - hungUpAt} ms after the hang-up`)
    // Once their call ended, the two devices were asked to move as well.
    const moved = (d: { reason: string }) => /moving to another/.test(d.reason)
    await Promise.all([alice.next('disconnect', moved), bob.next('disconnect', moved)])
    const closing = Date.now()
    await servers.shift()!.close()
    assert.ok(Date.now() - closing < 3000)
  })

  it('ends the calls still in progress at the bound, each with one record, and lets their devices go', async () => {
    const a = await server({ drainTimeoutMs: 1000 })
    const { alice, bob, call } = await callOn(a, 'frank', 'grace')
    const started = Date.now()
    await a.drain()
    const took = Date.now() - started
    assert.ok(took >= 1000 && took < 4000, `drained in ${took} ms`)
    for (const device of [alice, bob]) {
      assert.equal((await device.next('callEnd')).reason, 'interrupted')
      assert.equal((await device.next('record')).status, RECORD_STATUS.completed)
      await device.next('disconnect')
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (const device of [alice, bob]) assert.equal(device.names().filter((n) => n === 'record').length, 1)
    assert.equal((await a.store.getRecord(app.appKey, call.callId))?.endReason, 'interrupted')
  })

  it('moves a device whose call just ended only once it has heard callEnd and the record, however slow the write', async () => {
    const a = await server({ drainTimeoutMs: 5000 })
    const { alice, bob, call } = await callOn(a, 'liz', 'mo')
    // The record's write outlasts a few rounds of the drain's look for devices whose calls ended.
    const finishCall = a.store.finishCall.bind(a.store)
    a.store.finishCall = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 700))
      return finishCall(...args)
    }
    const drained = a.drain()
    await new Promise((resolve) => setTimeout(resolve, 300))
    await call.hangup()
    await drained
    for (const device of [alice, bob]) {
      await device.next('disconnect')
      const heard = device.names()
      assert.ok(heard.indexOf('record') >= 0 && heard.indexOf('record') < heard.indexOf('disconnect'), heard.join())
    }
    assert.ok(bob.names().indexOf('callEnd') < bob.names().indexOf('record'), bob.names().join())
  })

  it('keeps the device that carries a call and moves the other devices of its account at once', async () => {
    const a = await server({ drainTimeoutMs: 5000 })
    const alice = await TestDevice.online(a, 'judy')
    const phone = await TestDevice.online(a, 'ken', { deviceId: 'phone' })
    const laptop = await TestDevice.online(a, 'ken', { deviceId: 'laptop' })
    const call = await alice.kit.call({ to: 'ken', type: 'audio' })
    await laptop.next('invited')
    await (await phone.next('invited')).call.accept()
    await laptop.next('otherClientAccept')
    const drained = a.drain()
    assert.match((await laptop.next('disconnect', undefined, 2000)).reason, /moving to another/)
    assert.equal(phone.kit.online && alice.kit.online, true)
    assert.equal(call.status, 'connected')
    await call.hangup()
    await drained
    await Promise.all([alice.next('disconnect'), phone.next('disconnect')])
  })

  it('in a group call, keeps the members in it and moves one who left it', async () => {
    const a = await server({ drainTimeoutMs: 5000 })
    const [leo, mia, ned] = await Promise.all(['leo', 'mia', 'ned'].map((accid) => TestDevice.online(a, accid)))
    const call = await leo!.kit.groupCall({ to: ['mia', 'ned'], type: 'audio' })
    const calls = await Promise.all(
      [mia!, ned!].map(async (d) => {
        const { call: incoming } = await d.next('invited')
        await incoming.accept()
        return incoming
      }),
    )
    await calls[1]!.leave()
    const drained = a.drain()
    assert.match((await ned!.next('disconnect', undefined, 2000)).reason, /moving to another/)
    assert.equal(leo!.kit.online && mia!.kit.online, true)
    await call.hangup()
    await drained
    assert.equal((await mia!.next('record')).isGroup, true)
  })

  it('/healthz stays 200 and says draining; /readyz answers 200 until the drain, then 503 SERVER_DRAINING', async () => {
    const a = await server({ drainTimeoutMs: 5000 })
    assert.deepEqual(await health(a), {
      healthz: 200,
      health: { ok: true, status: 'ok' },
      readyz: 200,
      ready: { ready: true },
    })
    const { alice, bob, call } = await callOn(a, 'heidi', 'ivan')
    const drained = a.drain()
    const during = await health(a)
    assert.equal(during.healthz, 200)
    assert.deepEqual(during.health, { ok: true, status: 'draining' })
    assert.equal(during.readyz, 503)
    assert.equal(during.ready.ready, false)
    assert.equal(during.ready.error.code, 'SERVER_DRAINING')
    await call.hangup()
    await drained
    await Promise.all([alice.next('disconnect'), bob.next('disconnect')])
  })
})
