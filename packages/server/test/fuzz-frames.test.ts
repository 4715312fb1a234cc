import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import WebSocket from 'ws'
import { ERROR_CODES, MAX_FRAME_BYTES } from '@ringkit/protocol'
import { startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'

const FRAMES = 10_000
const SEED = Number(process.env.RINGKIT_FUZZ_SEED ?? 20261122)

let server: TestServer
before(async () => {
  server = await startTestServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

/** A raw socket that counts the answers (replies and errors) it gets, and keeps the error codes. */
async function rawClient() {
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`)
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  const state = { answers: 0, codes: new Map<string, number>(), closed: false }
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string; error?: { code: string } }
    if (frame.type === 'reply' || frame.type === 'error') state.answers++
    if (frame.error) state.codes.set(frame.error.code, (state.codes.get(frame.error.code) ?? 0) + 1)
  })
  socket.on('close', () => (state.closed = true))
  return { socket, state }
}

/** Frames a confused or hostile client might send, valid ones mutated among them. */
function frameArbitrary(callId: string) {
  const id = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constant(undefined), fc.constant(null))
  const valid = fc.constantFrom<Record<string, unknown>>(
    { type: 'accept', callId },
    { type: 'reject', callId },
    { type: 'cancel', callId },
    { type: 'hangup', callId },
    { type: 'mediaState', callId, audio: false },
    { type: 'switchType', callId, callType: 'audio' },
    { type: 'switchTypeReply', callId, accept: true },
    { type: 'signal', callId, data: { kind: 'description', description: { type: 'offer', sdp: 'v=0' } } },
    { type: 'call', to: ['nobody-here'], callType: 'video' },
    { type: 'call', to: ['fuzz-mallory'], callType: 'audio' },
    { type: 'history', limit: 5 },
    { type: 'ping' },
    { type: 'renew', token: 'not-a-token' },
    { type: 'login', appKey: 'x', accid: 'fuzz-mallory', token: 'bad', deviceId: 'd' },
  )
  const mutated = fc
    .tuple(
      valid,
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.oneof(fc.jsonValue(), fc.constant(undefined)),
      id,
      fc.nat(3),
    )
    .map(([frame, key, value, newId, how]) => {
      const copy: Record<string, unknown> = { ...frame, id: `m${String(newId)}` }
      const keys = Object.keys(copy)
      const target = keys[Math.abs(key.length * 7) % keys.length]!
      if (how === 0) delete copy[target]
      else if (how === 1) copy[target] = value
      else if (how === 2) copy[key] = value
      else copy.type = key
      return JSON.stringify(copy)
    })
  const wellFormed = fc
    .tuple(valid, fc.string({ minLength: 1, maxLength: 10 }))
    .map(([frame, rid]) => JSON.stringify({ ...frame, id: rid }))
  return fc.oneof(
    { weight: 3, arbitrary: mutated },
    { weight: 2, arbitrary: wellFormed },
    { weight: 2, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes)) },
  )
}

describe('10,000 random and mutated frames during a live call', () => {
  it('each gets one answer with a known code, the server stays up, and the call completes untouched', async () => {
    const alice = await TestDevice.online(server, 'fuzz-alice')
    const bob = await TestDevice.online(server, 'fuzz-bob')
    const call = await alice.kit.call({ to: bob.accid, type: 'video' })
    const ring = await bob.next('invited')
    await ring.call.accept()
    await alice.next('userAccept')

    const mallory = await rawClient()
    const token = await tokenFor(server, 'fuzz-mallory')
    mallory.socket.send(
      JSON.stringify({
        type: 'login',
        id: 'login',
        appKey: server.app.appKey,
        accid: 'fuzz-mallory',
        token,
        deviceId: 'm',
      }),
    )
    const stranger = await rawClient()
    const clients = [mallory, stranger]
    let sent = [1, 0]
    const waitForAnswers = async () => {
      const deadline = Date.now() + 10_000
      while (clients.some((c, i) => c.state.answers < sent[i]!) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5))
    }
    await waitForAnswers()

    const frames = fc.sample(frameArbitrary(call.callId), { numRuns: FRAMES - 20, seed: SEED })
    const oversized = Array.from({ length: 20 }, (_, i) =>
      JSON.stringify({ type: 'signal', id: `big${i}`, callId: call.callId, data: 'x'.repeat(MAX_FRAME_BYTES + i) }),
    )
    // A request id is an idempotency key: a repeated one is not run again (see README). Keep them unique.
    const all = [...frames, ...oversized].map((frame, n) => {
      if (typeof frame !== 'string') return frame
      try {
        const parsed: unknown = JSON.parse(frame)
        if (parsed && typeof parsed === 'object' && typeof (parsed as { id?: unknown }).id === 'string') {
          return JSON.stringify({ ...parsed, id: `${(parsed as { id: string }).id.slice(0, 40)}#${n}` })
        }
      } catch {
        // not JSON: sent as it is
      }
      return frame
    })
    for (let i = 0; i < all.length; i += 250) {
      for (const [n, frame] of all.slice(i, i + 250).entries()) {
        const which = (i + n) % 2
        clients[which]!.socket.send(frame)
        sent = sent.map((count, k) => (k === which ? count + 1 : count))
      }
      await waitForAnswers()
    }

    for (const [i, c] of clients.entries()) {
      assert.equal(c.state.closed, false, 'no socket was dropped')
      assert.equal(c.state.answers, sent[i], `client ${i}: every frame got exactly one answer (seed ${SEED})`)
      for (const code of c.state.codes.keys()) assert.ok(Object.hasOwn(ERROR_CODES, code), `unknown code ${code}`)
    }
    const codes = new Set([...mallory.state.codes.keys(), ...stranger.state.codes.keys()])
    for (const expected of [
      'BAD_FRAME',
      'UNKNOWN_TYPE',
      'INVALID_PARAMS',
      'FRAME_TOO_LARGE',
      'NOT_IN_CALL',
      'NOT_LOGGED_IN',
    ]) {
      assert.ok(codes.has(expected), `the fuzz reached ${expected}; saw ${[...codes].join(', ')}`)
    }
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)

    assert.equal(call.status, 'connected')
    assert.ok(
      !alice.names().includes('callEnd') && !bob.names().includes('callEnd'),
      'the live call was never disturbed',
    )
    await call.hangup()
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assert.equal(ra.callId, call.callId)
    assert.equal(ra.status, 1)
    assert.deepEqual(rb, ra)
    assert.ok(await alice.quiet('record', 200))
    for (const socket of clients) socket.socket.close()
  })
})
