import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { RECORD_STATUS } from '@ringkit/protocol'
import { startTestServer, TestDevice, tokenFor, waitFor, type TestServer } from './support.ts'

let server: TestServer
let n = 0
const name = (base: string) => `${base}${++n}`

before(async () => {
  server = await startTestServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

/** Two fresh accounts in an answered video call. */
async function connectedVideoCall() {
  const alice = await TestDevice.online(server, name('alice'))
  const bob = await TestDevice.online(server, name('bob'))
  const call = await alice.kit.call({ to: bob.accid, type: 'video' })
  const ring = await bob.next('invited')
  await ring.call.accept()
  await alice.next('userAccept')
  return { alice, bob, call, ring }
}

describe('multi-device', () => {
  it('all devices of the callee ring; the first accept wins and the others get otherClientAccept', async () => {
    const alice = await TestDevice.online(server, name('alice'))
    const bobId = name('bob')
    const bob1 = await TestDevice.online(server, bobId, { deviceId: 'phone' })
    const bob2 = await TestDevice.online(server, bobId, { deviceId: 'laptop' })
    const call = await alice.kit.call({ to: bobId, type: 'audio' })
    const [ring1, ring2] = await Promise.all([bob1.next('invited'), bob2.next('invited')])
    await ring2.call.accept()
    await alice.next('userAccept')
    const other = await bob1.next('otherClientAccept')
    assert.equal(other.deviceId, 'laptop')
    assert.equal(ring1.call.status, 'ended')
    assert.equal(ring1.call.endReason, 'answeredElsewhere')
    await assert.rejects(ring1.call.accept(), { code: 'INVALID_STATE' })
    await call.hangup()
    await Promise.all([alice.next('callEnd'), bob2.next('callEnd')])
    const records = await Promise.all([alice.next('record'), bob1.next('record'), bob2.next('record')])
    for (const r of records) assert.equal(r.status, RECORD_STATUS.completed)
    assert.ok(await bob1.quiet('callEnd'), 'the device that did not answer gets no callEnd')
  })

  it('a reject on one device ends the call; the others get otherClientReject and a record with status 3', async () => {
    const alice = await TestDevice.online(server, name('alice'))
    const bobId = name('bob')
    const bob1 = await TestDevice.online(server, bobId, { deviceId: 'phone' })
    const bob2 = await TestDevice.online(server, bobId, { deviceId: 'laptop' })
    await alice.kit.call({ to: bobId, type: 'video' })
    const [ring1] = await Promise.all([bob1.next('invited'), bob2.next('invited')])
    await ring1.call.reject()
    await alice.next('userReject', (e) => e.accid === bobId)
    assert.equal((await bob2.next('otherClientReject')).deviceId, 'phone')
    const records = await Promise.all([alice.next('record'), bob1.next('record'), bob2.next('record')])
    for (const r of records) assert.equal(r.status, RECORD_STATUS.rejected)
  })

  it('a device that logs in while its account is being rung rings too, and can answer', async () => {
    const alice = await TestDevice.online(server, name('alice'))
    const bobId = name('bob')
    const bob1 = await TestDevice.online(server, bobId, { deviceId: 'phone' })
    const call = await alice.kit.call({ to: bobId, type: 'audio', attachment: { note: 'late' } })
    await bob1.next('invited')
    const late = await TestDevice.online(server, bobId, { deviceId: 'tablet' })
    const ring = await late.next('invited')
    assert.equal(ring.call.callId, call.callId)
    assert.deepEqual(ring.attachment, { note: 'late' })
    await ring.call.accept()
    await alice.next('userAccept')
    await bob1.next('otherClientAccept', (e) => e.deviceId === 'tablet')
    await ring.call.hangup()
    assert.equal((await alice.next('callEnd')).by, bobId)
    assert.equal((await late.next('record')).status, RECORD_STATUS.completed)
  })
})

describe('single-device apps', () => {
  it('a new login kicks the old device with kickedOffline, ending its call', async () => {
    const app = await server.createApp({ name: 'single', multiDevice: false })
    const alice = await TestDevice.online(server, name('alice'), { app })
    const bobId = name('bob')
    const bobOld = await TestDevice.online(server, bobId, { deviceId: 'old', app })
    await alice.kit.call({ to: bobId, type: 'audio' })
    const ring = await bobOld.next('invited')
    await ring.call.accept()
    await alice.next('userAccept')
    const bobNew = await TestDevice.online(server, bobId, { deviceId: 'new', app })
    assert.deepEqual(await bobOld.next('kickedOffline'), { reason: 'otherLogin' })
    assert.equal(bobOld.kit.online, false)
    assert.equal((await bobOld.next('callEnd')).reason, 'kicked')
    const end = await alice.next('callEnd')
    assert.equal(end.reason, 'kicked')
    assert.equal(end.by, bobId)
    const record = await alice.next('record')
    assert.equal(record.status, RECORD_STATUS.completed)
    assert.equal(record.endReason, 'kicked')
    assert.equal((await bobNew.next('record')).callId, record.callId)
    assert.ok(await bobNew.quiet('kickedOffline'))
  })
})

describe('connection resilience', () => {
  it('a device whose socket drops resumes within the grace period and gets what it missed, in order', async () => {
    const { alice, bob, call, ring } = await connectedVideoCall()

    alice.kit.simulateNetworkDrop()
    await alice.next('disconnect')
    await ring.call.enableLocalAudio(false)
    await ring.call.enableLocalVideo(false)
    await ring.call.enableLocalAudio(true)
    // Sent while disconnected: waits, and goes out once the session is back.
    const switched = call.switchType('audio')
    assert.deepEqual(await alice.next('reconnected'), { resumed: true })
    await switched
    const missed = alice.seen.filter((s) => s.name === 'audioAvailable' || s.name === 'videoAvailable')
    assert.deepEqual(
      missed.map((s) => [s.name, 'available' in s.payload ? s.payload.available : undefined]),
      [
        ['audioAvailable', false],
        ['videoAvailable', false],
        ['audioAvailable', true],
      ],
    )
    await bob.next('callTypeChange', (e) => e.state === 'switched' && e.type === 'audio')
    assert.equal(call.status, 'connected')
    await call.hangup()
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assert.equal(ra.status, RECORD_STATUS.completed)
    assert.equal(ra.endReason, 'hangup')
    assert.deepEqual(rb, ra)
    assert.ok(await alice.quiet('record'), 'no frame is handled twice')
  })

  it('past the grace period the other side gets callEnd and the record says the device was lost', async () => {
    const aliceId = name('alice')
    const bob = await TestDevice.online(server, name('bob'))
    // A raw socket, so nothing reconnects when it dies.
    const raw = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`)
    await new Promise((r) => raw.once('open', r))
    const frames: { type: string; id?: string; result?: { callId?: string } }[] = []
    raw.on('message', (data) => frames.push(JSON.parse(String(data))))
    const token = await tokenFor(server, aliceId)
    raw.send(
      JSON.stringify({ type: 'login', id: '1', appKey: server.app.appKey, accid: aliceId, token, deviceId: 'd' }),
    )
    await waitFor('the login answer', () => frames.some((f) => f.id === '1'))
    raw.send(JSON.stringify({ type: 'call', id: '2', to: [bob.accid], callType: 'audio' }))
    const ring = await bob.next('invited')
    await ring.call.accept()
    const lostAt = Date.now()
    raw.terminate()
    const end = await bob.next('callEnd', () => true, 5000)
    assert.equal(end.reason, 'disconnected')
    assert.equal(end.by, aliceId)
    assert.ok(Date.now() - lostAt >= 1400, 'the call outlives a short loss')
    const record = await bob.next('record')
    assert.equal(record.status, RECORD_STATUS.completed)
    assert.equal(record.endReason, 'disconnected')
  })
})

describe('call type and media state', () => {
  it('video → audio switches at once; audio → video is refused, then accepted, by the other side', async () => {
    const { alice, bob, call, ring } = await connectedVideoCall()

    await call.switchType('audio')
    await Promise.all([
      alice.next('callTypeChange', (e) => e.state === 'switched' && e.type === 'audio'),
      bob.next('callTypeChange', (e) => e.state === 'switched' && e.type === 'audio'),
    ])
    assert.equal(ring.call.type, 'audio')

    const refused = assert.rejects(call.switchType('video'), { code: 'SWITCH_REJECTED' })
    await bob.next('callTypeChange', (e) => e.state === 'invite' && e.type === 'video' && e.by === alice.accid)
    await ring.call.answerSwitchType(false)
    await refused
    assert.equal(call.type, 'audio')

    const agreed = call.switchType('video')
    await bob.next('callTypeChange', (e) => e.state === 'invite')
    await ring.call.answerSwitchType(true)
    await agreed
    assert.equal(call.type, 'video')
    assert.equal(ring.call.type, 'video')
    await assert.rejects(ring.call.answerSwitchType(true), { code: 'INVALID_STATE' })

    await ring.call.enableLocalVideo(false)
    const video = await alice.next('videoAvailable')
    assert.deepEqual([video.accid, video.available], [bob.accid, false])
    await ring.call.hangup()
    assert.equal((await alice.next('record')).type, 'video')
  })

  it('actions on a call this device is not in are refused with a code, leaving the call alone', async () => {
    const alice = await TestDevice.online(server, name('alice'))
    const bob = await TestDevice.online(server, name('bob'))
    const mallory = await TestDevice.online(server, name('mallory'))
    const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
    const ring = await bob.next('invited')
    // Mallory has no Call object for it; she forges requests with the callId.
    const forged = await forge(mallory, call.callId)
    assert.deepEqual(forged, ['NOT_IN_CALL', 'NOT_IN_CALL', 'NOT_IN_CALL', 'NOT_IN_CALL'])
    await ring.call.accept()
    await alice.next('userAccept')
    await call.hangup()
    assert.equal((await bob.next('record')).status, RECORD_STATUS.completed)
  })
})

/** Sends accept, reject, cancel and hangup for someone else's call over a raw socket; returns the codes. */
async function forge(device: TestDevice, callId: string): Promise<string[]> {
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`)
  await new Promise((r) => socket.once('open', r))
  const replies = new Map<string, string>()
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { id?: string; error?: { code: string } }
    if (frame.id) replies.set(frame.id, frame.error?.code ?? 'ok')
  })
  const token = await tokenFor(server, device.accid)
  socket.send(
    JSON.stringify({
      type: 'login',
      id: 'l',
      appKey: server.app.appKey,
      accid: device.accid,
      token,
      deviceId: 'forger',
    }),
  )
  await waitFor('the login answer', () => replies.has('l'))
  const types = ['accept', 'reject', 'cancel', 'hangup']
  types.forEach((type, i) => socket.send(JSON.stringify({ type, id: `f${i}`, callId })))
  await waitFor('the answers to the forged requests', () => types.every((_, i) => replies.has(`f${i}`)))
  socket.close()
  return types.map((_, i) => replies.get(`f${i}`) ?? 'none')
}
