import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Janode from 'janode'
import VideoRoomPlugin from 'janode/plugins/videoroom'
import { RingKitError } from '@ringkit/protocol'
import type { MediaEvent } from '../../client/src/media/WebRtcMedia.ts'
import { findProgram, startJanus, type Janus } from './services.ts'
import { SfuCalls } from '../src/sfu/index.ts'
import { APP, assertFlowing, Relay, waitFor, type Device } from './sfu-support.ts'

const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')
const skip = typeof janusBinary === 'string' ? false : janusBinary.skip

let janus: Janus | undefined
let callCount = 0

/** A relay for a new call on the suite's Janus, closed with its devices when the test ends. */
function relay(t: TestContext, on: { url: string; apiSecret: string } | undefined = janus): Relay {
  if (!on) throw new Error('no Janus')
  const created = new Relay(on, `call-${++callCount}`)
  t.after(async () => created.close())
  return created
}

/** Devices that opened the call and joined it, each receiving every other one's media. */
async function inCall(call: Relay, accids: string[]): Promise<Device[]> {
  await call.sfu.open(APP, call.callId)
  const devices = accids.map((accid) => call.device(accid))
  await Promise.all(devices.map(async (device) => device.media.publish()))
  await waitFor(
    () => devices.every((device) => device.media.remoteAccids().length === accids.length - 1),
    15_000,
    () => `userEnter so far: ${devices.map((d) => `${d.ref.accid} ← ${d.media.remoteAccids().join(',')}`).join('; ')}`,
  )
  return devices
}

/** No offer overtook an unanswered one, and no device reported a media error. */
function assertOrderly(call: Relay, devices: Device[]): void {
  assert.deepEqual(call.overlapping, [], 'offers sent while one was unanswered')
  assert.deepEqual(call.faults, [], 'faults on the wire')
  for (const device of devices) {
    assert.deepEqual(
      device.events.flatMap((event) => (event.name === 'error' ? [event.error.message] : [])),
      [],
      `${device.ref.accid} media errors`,
    )
  }
}

function accidsOf(events: MediaEvent[], name: 'userEnter' | 'userLeave'): string[] {
  return events.flatMap((event) => (event.name === name ? [event.accid] : [])).sort()
}

function isCode(code: string): (error: unknown) => boolean {
  return (error) => error instanceof RingKitError && error.code === code
}

describe('group-call media relayed through Janus VideoRoom (real Janus, @roamhq/wrtc)', { skip }, () => {
  before(async () => {
    if (typeof janusBinary === 'string') janus = await startJanus(janusBinary)
  })
  after(async () => {
    await janus?.stop()
    // libwebrtc in @roamhq/wrtc can crash while the process tears down: leave explicitly once done.
    setTimeout(() => process.exit(process.exitCode ?? 0), 200)
  })

  it('three devices each receive audio and video RTP from the two others, mapped to the right accids', async (t) => {
    const call = relay(t)
    const devices = await inCall(call, ['ann', 'ben', 'cat'])
    for (const device of devices) {
      const others = ['ann', 'ben', 'cat'].filter((accid) => accid !== device.ref.accid)
      assert.deepEqual(accidsOf(device.events, 'userEnter'), others)
      const latest = device.offers
        .at(-1)
        ?.streams.map(({ accid, kind }) => `${accid} ${kind}`)
        .sort()
      assert.deepEqual(
        latest,
        others.flatMap((accid) => [`${accid} audio`, `${accid} video`]),
      )
    }
    await assertFlowing(devices)
    assertOrderly(call, devices)
    // Candidates of both connections were trickled to Janus, each list ended, none refused.
    for (const kind of [
      'publisher candidate',
      'publisher candidate end',
      'subscriber candidate',
      'subscriber candidate end',
    ]) {
      assert.ok((call.received.get(kind) ?? 0) >= 3, `${kind}: ${call.received.get(kind) ?? 0}`)
    }
  })

  it("a device that leaves goes from the others' offers with userLeave, and the two left keep receiving each other", async (t) => {
    const call = relay(t)
    const [ann, ben, cat] = await inCall(call, ['ann', 'ben', 'cat'])
    if (!ann || !ben || !cat) return assert.fail('three devices')
    const offersBefore = [ann.offers.length, ben.offers.length]
    await call.sfu.leave(call.callId, cat.ref)
    cat.media.close()
    await waitFor(
      () => [ann, ben].every((d) => accidsOf(d.events, 'userLeave').includes('cat')),
      10_000,
      () => 'userLeave cat on both',
    )
    for (const [i, device] of [ann, ben].entries()) {
      assert.ok(device.offers.length > (offersBefore[i] ?? 0), `${device.ref.accid} got an updated offer`)
      assert.ok(
        !device.offers.at(-1)?.streams.some((stream) => stream.accid === 'cat'),
        'the offer lists no cat stream',
      )
      assert.deepEqual(device.media.remoteAccids(), [i === 0 ? 'ben' : 'ann'])
    }
    await assertFlowing([ann, ben])
    assertOrderly(call, [ann, ben, cat])
  })

  it('nothing a device receives names the Janus URL, the room, its pin or its secret', async (t) => {
    const call = relay(t)
    const [ann, , cat] = await inCall(call, ['ann', 'ben', 'cat'])
    if (!ann || !cat) return assert.fail('three devices')
    const room = await call.sfu.roomOf(call.callId)
    if (!room || !janus) return assert.fail('a room')
    // Updated offers and error replies go over the wire too.
    await call.sfu.leave(call.callId, cat.ref)
    cat.media.close()
    await waitFor(() => accidsOf(ann.events, 'userLeave').includes('cat'), 10_000)
    await assert.rejects(
      call.sfu.handle(APP, call.callId, ann.ref, { kind: 'answer', description: { type: 'answer', sdp: 'v=0' } }),
      isCode('INVALID_STATE'),
    )
    const offers = call.wire.filter((json) => json.includes('"kind":"offer"'))
    const answers = call.wire.filter((json) => json.includes('"type":"answer"'))
    assert.ok(offers.length >= 4 && answers.length >= 3, `${offers.length} offers, ${answers.length} answers seen`)
    // Janus names the SDP session after the room (s=VideoRoom <id>): the relay must rename it.
    for (const json of [...offers, ...answers]) assert.match(json, /\\r\\ns=-\\r\\n/)
    const port = new URL(janus.url).port
    for (const json of call.wire) {
      assert.doesNotMatch(json, new RegExp(`\\b${room.room}\\b`), 'room id')
      for (const secret of [room.pin, room.secret, janus.url, `127.0.0.1:${port}`, janus.apiSecret]) {
        assert.ok(!json.includes(secret), `a device received ${secret}: ${json.slice(0, 200)}`)
      }
    }
  })

  it("close() destroys the call's room on Janus and refuses further messages", async (t) => {
    const call = relay(t)
    const [ann] = await inCall(call, ['ann', 'ben'])
    if (!ann || !janus) return assert.fail('two devices')
    const room = await call.sfu.roomOf(call.callId)
    if (!room) return assert.fail('a room')
    const connection = await Janode.connect({ address: { url: janus.url, apisecret: janus.apiSecret }, max_retries: 0 })
    t.after(async () => connection.close().catch(() => undefined))
    const outside = await (await connection.create()).attach(VideoRoomPlugin)
    assert.equal((await outside.exists({ room: room.room })).exists, true)
    await call.sfu.close(call.callId)
    assert.equal((await outside.exists({ room: room.room })).exists, false)
    const candidate = { kind: 'candidate' as const, target: 'publisher' as const, candidate: null }
    await assert.rejects(call.sfu.handle(APP, call.callId, ann.ref, candidate), isCode('INVALID_STATE'))
    await call.sfu.close(call.callId)
    assert.deepEqual(call.lost, [])
  })

  it('out-of-order messages are refused with INVALID_STATE, a broken SDP with INVALID_PARAMS, and the device still publishes', async (t) => {
    const call = relay(t)
    const ann = call.device('ann', 'audio')
    const send = async (message: Parameters<SfuCalls['handle']>[3]) =>
      call.sfu.handle(APP, call.callId, ann.ref, message)
    await assert.rejects(send({ kind: 'candidate', target: 'publisher', candidate: null }), isCode('INVALID_STATE'))
    await call.sfu.open(APP, call.callId)
    await call.sfu.open(APP, call.callId)
    await assert.rejects(send({ kind: 'answer', description: { type: 'answer', sdp: 'v=0' } }), isCode('INVALID_STATE'))
    await assert.rejects(send({ kind: 'candidate', target: 'publisher', candidate: null }), isCode('INVALID_STATE'))
    await assert.rejects(send({ kind: 'candidate', target: 'subscriber', candidate: null }), isCode('INVALID_STATE'))
    await assert.rejects(
      send({ kind: 'publish', description: { type: 'offer', sdp: 'v=0\r\nnot an sdp' } }),
      isCode('INVALID_PARAMS'),
    )
    await ann.media.publish()
    await waitFor(() => /^(connected|completed)$/.test(ann.media.publisherConnection?.iceConnectionState ?? ''), 10_000)
    // Alone in the call: an answer still has no offer to go with.
    await assert.rejects(send({ kind: 'answer', description: { type: 'answer', sdp: 'v=0' } }), isCode('INVALID_STATE'))
    assert.deepEqual(ann.offers, [])
    await assert.rejects(
      call.sfu.handle(APP, 'no-such-call', ann.ref, { kind: 'candidate', target: 'publisher', candidate: null }),
      isCode('INVALID_STATE'),
    )
  })

  it('an SDP or candidate Janus cannot read (U+0000, a lone surrogate) is INVALID_PARAMS at once, never SFU_UNAVAILABLE', async (t) => {
    const call = relay(t)
    const ann = call.device('ann', 'audio')
    const send = async (message: Parameters<SfuCalls['handle']>[3]) =>
      call.sfu.handle(APP, call.callId, ann.ref, message)
    await call.sfu.open(APP, call.callId)
    const offer = (sdp: string) => ({ kind: 'publish' as const, description: { type: 'offer' as const, sdp } })
    const candidate = (text: string, sdpMid = '0') => ({
      kind: 'candidate' as const,
      target: 'publisher' as const,
      candidate: { candidate: text, sdpMid, sdpMLineIndex: 0 },
    })
    // Relayed as they are, Janus drops these without a word: each would wait out the 3 s request timeout.
    const started = performance.now()
    for (const message of [
      offer('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=\u0000\r\n'),
      offer('v=0\r\ns=\ud800\r\n'),
      { kind: 'answer' as const, description: { type: 'answer' as const, sdp: 'v=0\r\ns=\udc00-\r\n' } },
      candidate('candidate:1 1 udp 1 10.0.0.1 9 typ host\u0000'),
      candidate('candidate:1 1 udp 1 10.0.0.1 9 typ host', '\ud83d'),
    ]) {
      await assert.rejects(send(message), isCode('INVALID_PARAMS'), JSON.stringify(message))
    }
    assert.ok(performance.now() - started < 1000, 'refused without asking Janus')
    // Nothing was left half done: the device publishes as usual.
    await ann.media.publish()
    await waitFor(() => /^(connected|completed)$/.test(ann.media.publisherConnection?.iceConnectionState ?? ''), 10_000)
    assert.deepEqual(call.lost, [])
  })

  it('available() resolves with Janus up, and rejects with SFU_UNAVAILABLE when no Janus listens', async (t) => {
    await relay(t).sfu.available()
    const nowhere = relay(t, { url: 'ws://127.0.0.1:1', apiSecret: 'x' })
    const started = performance.now()
    await assert.rejects(nowhere.sfu.available(), isCode('SFU_UNAVAILABLE'))
    await assert.rejects(nowhere.sfu.open(APP, nowhere.callId), isCode('SFU_UNAVAILABLE'))
    assert.ok(performance.now() - started < 3_000)
  })

  it('a Janus killed mid-call makes onCallLost(appKey, callId) fire once, within seconds', async (t) => {
    if (typeof janusBinary !== 'string') return assert.fail('unreachable: the suite is skipped')
    const doomed = await startJanus(janusBinary)
    t.after(async () => doomed.stop())
    const call = relay(t, doomed)
    await inCall(call, ['ann', 'ben'])
    const killed = performance.now()
    await doomed.kill()
    await waitFor(() => call.lost.length > 0, 5_000)
    const took = performance.now() - killed
    t.diagnostic(`onCallLost ${Math.round(took)} ms after the kill`)
    await assert.rejects(
      call.sfu.handle(
        APP,
        call.callId,
        { accid: 'ann', deviceId: 'ann-phone' },
        { kind: 'candidate', target: 'publisher', candidate: null },
      ),
      isCode('INVALID_STATE'),
    )
    // Refused: the relay has forgotten the call, so nothing more of it can fire.
    assert.deepEqual(call.lost, [`${APP} ${call.callId}`], 'onCallLost fired once')
  })
})
