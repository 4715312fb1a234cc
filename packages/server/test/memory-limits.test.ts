import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { DEFAULT_LIMITS } from '../src/index.ts'
import { startTestServer, TestDevice, type TestServer } from './support.ts'
import { bystanderCall, heldBytes, largestAttachment, metric, RawDevice, seedRecords, until } from './memory-support.ts'

const name = (tag: string) => `${tag}-${randomUUID().slice(0, 8)}`
/** Every RawDevice a test opened, closed after the suite. */
const raws: RawDevice[] = []
async function raw(server: TestServer, accid: string, deviceId?: string) {
  const { device, answer } = await RawDevice.login(server, accid, deviceId ? { deviceId } : {})
  raws.push(device)
  return { device, answer }
}

let server: TestServer
before(async () => {
  server = await startTestServer()
})
after(async () => {
  for (const device of raws) device.socket.terminate()
  await TestDevice.closeAll()
  await server.close()
})

describe('memory one device can make the server hold', () => {
  it('history asked for by a device that never acknowledges is not kept, is metered, and is not replayed on resume', async () => {
    const bystanders = await bystanderCall(server, 'history')
    const hoarder = name('hoarder')
    await seedRecords(server, hoarder, 100)
    const { device } = await raw(server, hoarder)
    // One page at a time, as fast as they come: the socket reads all, and acknowledges none.
    const asked: string[] = []
    for (let i = 0; i < DEFAULT_LIMITS.history.burst; i++) {
      asked.push(device.send({ type: 'history', limit: 100 }))
      await device.answer(asked.at(-1)!)
    }
    // Then a burst past the budget, of small pages: ten big ones at once would trip the slow-reader bound.
    for (let i = 0; i < 10; i++) asked.push(device.send({ type: 'history', limit: 1 }))
    await until('every history request is answered', () => asked.every((id) => device.answers(id).length > 0))
    const answers = asked.map((id) => device.answers(id)[0]!)
    const pages = answers.filter((a) => a.type === 'reply')
    assert.ok(pages.length >= DEFAULT_LIMITS.history.burst, `${pages.length} pages before the limit`)
    assert.equal(pages[0]!.result?.records?.length, 100)
    assert.ok(
      answers.some((a) => a.error?.code === 'RATE_LIMITED'),
      'requests past the budget are refused with RATE_LIMITED',
    )
    assert.ok(
      answers.every((a) => a.seq === 0),
      'history answers are unnumbered',
    )
    // About 13 MB of pages went out; the outbox kept none of them.
    assert.equal(device.socket.readyState, device.socket.OPEN, 'a device that reads is not cut off')
    const held = await heldBytes(server)
    assert.ok(held.outbox < 64 * 1024, `outboxes hold ${held.outbox} bytes`)

    device.socket.terminate()
    const resumed = await RawDevice.login(server, hoarder, { resume: { sessionId: device.sessionId, lastSeq: 0 } })
    raws.push(resumed.device)
    assert.equal(resumed.answer.result?.resumed, true)
    assert.deepEqual(
      resumed.device.frames.filter((f) => asked.includes(f.id ?? '')),
      [],
      'no history answer is replayed',
    )
    // A request resent after the resume is answered again, since nothing replayed its answer.
    const again = await resumed.device.answer(resumed.device.send({ type: 'history', limit: 1 }))
    assert.ok(again.type === 'reply' || again.error?.code === 'RATE_LIMITED')
    await bystanders.finish()
  })

  it('a signal flood is refused with RATE_LIMITED, counted in messages and in bytes', async () => {
    const bystanders = await bystanderCall(server, 'flood')
    const floods = []
    for (const [what, count, size] of [
      ['messages', DEFAULT_LIMITS.signal.burst + 50, 10],
      ['bytes', 40, 60_000],
    ] as const) {
      const callee = await TestDevice.online(server, name(`flooded-${what}`))
      const { device: caller } = await raw(server, name(`flooder-${what}`))
      const callId = (await caller.answer(caller.send({ type: 'call', to: [callee.accid], callType: 'audio' }))).result
        ?.callId
      await callee.next('invited')
      const ids = Array.from({ length: count }, () =>
        caller.send({ type: 'signal', callId, data: { sdp: 'x'.repeat(size) } }),
      )
      await until(`every ${what} signal is answered`, () => ids.every((id) => caller.answers(id).length > 0), 10_000)
      const refused = ids.map((id) => caller.answers(id)[0]!).filter((a) => a.type === 'error')
      assert.ok(refused.length > 0, `some of ${count} signals are refused`)
      assert.ok(refused.every((a) => a.error?.code === 'RATE_LIMITED'))
      assert.match(refused[0]!.error!.message, new RegExp(`signal ${what}`))
      floods.push({ caller, callId, callee })
    }
    for (const { caller, callId, callee } of floods) {
      assert.equal((await caller.answer(caller.send({ type: 'cancel', callId }))).type, 'reply')
      assert.equal((await callee.next('record')).status, 2)
    }
    await bystanders.finish()
  })

  it('a socket that stops reading is closed with 4008 and its session can still be resumed', async () => {
    // A long heartbeat: a socket that does not read does not answer pings either.
    const slow = await startTestServer({
      heartbeatMs: 60_000,
      limits: { slowReader: { bufferedBytes: 256 * 1024 }, history: { perSecond: 100, burst: 100 } },
    })
    try {
      const bystanders = await bystanderCall(slow, 'slow')
      const reader = name('reader')
      await seedRecords(slow, reader, 100)
      const { device } = await RawDevice.login(slow, reader)
      device.pauseReading()
      // Forty pages of about 650 KB: far more than the kernel's socket buffers take.
      for (let i = 0; i < 40; i++) device.send({ type: 'history', limit: 100 })
      const read = async () => (await metric(slow, 'ringkit_frames_total{type="history"}')) >= 40
      await until('the server read all forty', read)
      device.resumeReading()
      await until('the socket closes', () => device.closeCode !== undefined)
      assert.equal(device.closeCode, 4008)
      const lastSeq = Math.max(...device.frames.map((f) => f.seq ?? 0))
      const resumed = await RawDevice.login(slow, reader, { resume: { sessionId: device.sessionId, lastSeq } })
      assert.equal(resumed.answer.result?.resumed, true)
      resumed.device.socket.terminate()
      await bystanders.finish()
    } finally {
      await TestDevice.closeAll()
      await slow.close()
    }
  })

  it('an attachment over 4 KiB is refused with ATTACHMENT_TOO_LARGE by the SDK and the server, and nobody rings', async () => {
    const bystanders = await bystanderCall(server, 'attach')
    const callee = await TestDevice.online(server, name('callee'))
    const caller = await TestDevice.online(server, name('caller'))
    const tooLarge = { ...largestAttachment(), more: 'y' }
    await assert.rejects(caller.kit.call({ to: callee.accid, type: 'audio', attachment: tooLarge }), {
      code: 'ATTACHMENT_TOO_LARGE',
    })
    const { device } = await raw(server, caller.accid, 'raw-caller')
    const refused = await device.answer(
      device.send({ type: 'call', to: [callee.accid], callType: 'audio', attachment: tooLarge }),
    )
    assert.equal(refused.error?.code, 'ATTACHMENT_TOO_LARGE')
    // The largest allowed one rings; it is the first invitation the callee hears.
    const call = await caller.kit.call({ to: callee.accid, type: 'audio', attachment: largestAttachment() })
    const ring = await callee.next('invited')
    assert.equal(ring.call.callId, call.callId)
    assert.deepEqual(ring.attachment, largestAttachment())
    assert.equal(callee.names().filter((n) => n === 'invited').length, 1)
    await call.cancel()
    assert.equal((await callee.next('record')).status, 2)
    await bystanders.finish()
  })

  it('what a ringing call keeps of a relay flood for late devices is bounded in bytes', async () => {
    const bystanders = await bystanderCall(server, 'relay')
    const calleeId = name('rung')
    const callee = await TestDevice.online(server, calleeId)
    const { device: caller } = await raw(server, name('relayer'))
    const callId = (await caller.answer(caller.send({ type: 'call', to: [calleeId], callType: 'video' }))).result
      ?.callId
    await callee.next('invited')
    // 15 × 60 KB fits the caller's byte budget: the call's own bound is what stops keeping.
    const ids = Array.from({ length: 15 }, (_, i) =>
      caller.send({ type: 'signal', callId, data: { n: i, sdp: 'x'.repeat(60_000) } }),
    )
    await until('every signal is answered', () => ids.every((id) => caller.answers(id).length > 0))
    assert.ok(ids.every((id) => caller.answers(id)[0]!.type === 'reply'))
    const held = await heldBytes(server)
    assert.ok(held.keptSignals > 0, 'the first messages are kept')
    assert.ok(held.keptSignals <= DEFAULT_LIMITS.keptSignals.bytes, `kept ${held.keptSignals} bytes`)

    const { device: late } = await raw(server, calleeId, 'late')
    await late.event('invited')
    caller.send({ type: 'signal', callId, data: { n: 'marker' } })
    await late.event('signal', (f) => (f.data?.data as { n?: unknown }).n === 'marker')
    const replayed = late.frames.filter((f) => f.name === 'signal' && (f.data?.data as { n?: unknown }).n !== 'marker')
    assert.ok(replayed.length > 0 && replayed.length < 15, `${replayed.length} kept messages reach the late device`)
    const bytes = replayed.reduce((sum, f) => sum + JSON.stringify(f.data?.data).length, 0)
    assert.ok(bytes <= DEFAULT_LIMITS.keptSignals.bytes, `${bytes} bytes replayed`)

    assert.equal((await caller.answer(caller.send({ type: 'cancel', callId }))).type, 'reply')
    assert.equal((await callee.next('record')).status, 2)
    assert.equal((await heldBytes(server)).keptSignals, 0, 'a call that stops ringing keeps nothing')
    await bystanders.finish()
  })
})
