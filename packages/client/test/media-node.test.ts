import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Call, RingKitOptions } from '../src/index.ts'
import { startTestServer, type TestServer } from '../../server/test/support.ts'
import { next, retireBots, wrtcBot } from './node-bots.ts'
import { findProgram, startTurn, type Turn } from '../../server/test/services.ts'

let server: TestServer
const turnserver = findProgram('RINGKIT_TURNSERVER', ['/usr/bin/turnserver'], 'apt-get install coturn')
const noTurn = typeof turnserver === 'string' ? false : turnserver.skip
/** Each coturn a test started, and the server handing out its credentials; stopped once bots are out. */
const relays: { turn: Turn; on: TestServer }[] = []

before(async () => {
  server = await startTestServer()
})
after(async () =>
  retireBots(
    async () => server.close(),
    ...relays.map(({ turn, on }) => async () => {
      await on.close()
      await turn.stop()
    }),
  ),
)

/**
 * A coturn of the test's own and a server whose calls use it: what the test does to it (a restart,
 * a stop) reaches no other test, and no test depends on the order they run in.
 */
async function ownRelay(): Promise<{ turn: Turn; on: TestServer }> {
  if (typeof turnserver !== 'string') throw new Error(turnserver.skip)
  const turn = await startTurn(turnserver)
  const on = await startTestServer({ ice: { turnUrls: [turn.url], turnSecret: turn.secret } })
  relays.push({ turn, on })
  return { turn, on }
}

type BotOptions = Partial<RingKitOptions> & { on?: TestServer }

const bot = (accid: string, { on = server, ...options }: BotOptions = {}) => wrtcBot(on, accid, options)

/** Per kind, RTP packets received and frames decoded on this side of the call. */
async function inbound(call: Call) {
  const stats = await call.getStats()
  const out: Record<string, { packets: number; frames: number }> = {}
  stats?.forEach((r: { type: string; kind?: string; packetsReceived?: number; framesDecoded?: number }) => {
    if (r.type === 'inbound-rtp' && r.kind)
      out[r.kind] = { packets: r.packetsReceived ?? 0, frames: r.framesDecoded ?? 0 }
  })
  return out
}

async function videoCall(aliceId: string, bobId: string, options: BotOptions = {}) {
  const alice = await bot(aliceId, options)
  const bob = await bot(bobId, options)
  const invited = next(bob, 'invited')
  const call = await alice.call({ to: bobId, type: 'video' })
  const { call: incoming } = await invited
  const entered = Promise.all([next(alice, 'userEnter'), next(bob, 'userEnter')])
  await incoming.accept()
  const [enterA, enterB] = await entered
  assert.equal(enterA.accid, bobId)
  assert.equal(enterB.accid, aliceId)
  return { alice, bob, call, incoming }
}

async function assertFlowing(call: Call, incoming: Call) {
  await new Promise((r) => setTimeout(r, 500))
  const first = [await inbound(call), await inbound(incoming)]
  await new Promise((r) => setTimeout(r, 1500))
  const second = [await inbound(call), await inbound(incoming)]
  for (const [i, side] of ['caller', 'callee'].entries()) {
    for (const kind of ['audio', 'video']) {
      const before = first[i]?.[kind]?.packets ?? 0
      const now = second[i]?.[kind]?.packets ?? 0
      assert.ok(now > before && before > 0, `${side} ${kind} RTP grows: ${before} → ${now}`)
    }
    assert.ok((second[i]?.video?.frames ?? 0) > 0, `${side} decodes video`)
  }
}

describe('media in Node (@roamhq/wrtc)', () => {
  it('a video call carries RTP both ways and ends with a record', async () => {
    const { alice, bob, call, incoming } = await videoCall('wa1', 'wb1')
    await assertFlowing(call, incoming)
    // Another camera, by cycling and by choice: the sent track is replaced and video keeps flowing.
    const sentTrack = () =>
      call
        .getStats()
        .then(
          (s) => [...(s?.values() ?? [])].find((r) => r.type === 'media-source' && r.kind === 'video')?.trackIdentifier,
        )
    const firstTrack = await sentTrack()
    assert.ok(firstTrack, 'the sent video track is in the stats')
    await call.switchCamera()
    await alice.selectDevice('camera', 'synthetic-camera-0')
    await assertFlowing(call, incoming)
    assert.notEqual(await sentTrack(), firstTrack)
    const muted = next(bob, 'audioAvailable')
    await call.enableLocalAudio(false)
    assert.equal((await muted).available, false)
    const records = Promise.all([next(alice, 'record'), next(bob, 'record')])
    const left = next(bob, 'userLeave')
    await call.hangup()
    const [ra, rb] = await records
    assert.equal(ra.status, 1)
    assert.deepEqual(rb, ra)
    assert.equal((await left).accid, 'wa1')
  })

  it('switchCamera on an audio call is refused with NOT_VIDEO_CALL and sends no video; audio goes on', async () => {
    const alice = await bot('sa1')
    const bob = await bot('sb1')
    const invited = next(bob, 'invited')
    const call = await alice.call({ to: 'sb1', type: 'audio' })
    const { call: incoming } = await invited
    const entered = Promise.all([next(alice, 'userEnter'), next(bob, 'userEnter')])
    await incoming.accept()
    await entered
    const audioIn = async () => (await inbound(incoming)).audio?.packets ?? 0
    for (const deadline = Date.now() + 5000; (await audioIn()) === 0 && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 100))
    await assert.rejects(call.switchCamera(), { code: 'NOT_VIDEO_CALL' })
    const sentKinds = async (side: Call) => {
      const kinds: string[] = []
      ;(await side.getStats())?.forEach((r: { type: string; kind?: string }) => {
        if (r.type === 'media-source' || r.type === 'outbound-rtp') kinds.push(`${r.type}:${r.kind}`)
      })
      return kinds
    }
    const before = await audioIn()
    await new Promise((r) => setTimeout(r, 1500))
    const after = await inbound(incoming)
    assert.equal(after.video, undefined, 'the callee receives no video')
    assert.ok(!(await sentKinds(call)).some((k) => k.endsWith(':video')), 'the caller sends no video')
    assert.ok((after.audio?.packets ?? 0) > before && before > 0, `audio flows: ${before} → ${after.audio?.packets}`)
    assert.equal(call.status, 'connected')
    assert.equal(call.type, 'audio')
    await call.hangup()
  })

  it('video → audio → video sends video again both ways, and the camera switches after', async () => {
    const { alice, bob, call, incoming } = await videoCall('va1', 'vb1')
    await assertFlowing(call, incoming)
    const toAudio = next(bob, 'callTypeChange', (e) => e.state === 'switched' && e.type === 'audio')
    await call.switchType('audio')
    await toAudio
    await assert.rejects(incoming.switchCamera(), { code: 'NOT_VIDEO_CALL' })
    const asked = next(bob, 'callTypeChange', (e) => e.state === 'invite' && e.type === 'video')
    const toVideo = call.switchType('video')
    await asked
    await incoming.answerSwitchType(true)
    await toVideo
    await assertFlowing(call, incoming)
    await incoming.switchCamera()
    await assertFlowing(call, incoming)
    const records = Promise.all([next(alice, 'record'), next(bob, 'record')])
    await call.hangup()
    assert.equal((await records)[0].type, 'video')
  })

  it(
    'with relay-only ICE the call goes through a real coturn, with TURN REST credentials',
    { skip: noTurn },
    async () => {
      const { on } = await ownRelay()
      const { call, incoming } = await videoCall('ra1', 'rb1', { iceTransportPolicy: 'relay', on })
      await assertFlowing(call, incoming)
      for (const side of [call, incoming]) {
        const stats = await side.getStats()
        const reports = new Map<
          string,
          { type: string; candidateType?: string; localCandidateId?: string; nominated?: boolean; state?: string }
        >()
        stats?.forEach((r: { id: string; type: string }) => reports.set(r.id, r))
        const pair = [...reports.values()].find(
          (r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded',
        )
        assert.ok(pair, 'a nominated candidate pair')
        assert.equal(reports.get(pair.localCandidateId ?? '')?.candidateType, 'relay')
      }
      await call.hangup()
    },
  )

  it(
    'a short TURN outage is survived with an ICE restart, and the SDK says reconnected',
    { skip: noTurn },
    async () => {
      const { turn, on } = await ownRelay()
      const { alice, call, incoming } = await videoCall('oa1', 'ob1', { iceTransportPolicy: 'relay', on })
      await assertFlowing(call, incoming)
      const back = next(alice, 'reconnected', undefined, 30_000)
      await turn.restart()
      const event = await back
      assert.equal(event.call, call)
      assert.equal(call.status, 'connected')
      await assertFlowing(call, incoming)
      await call.hangup()
    },
  )

  it('a media connection that stays dead ends the call, and the record says it failed', { skip: noTurn }, async () => {
    const { turn, on } = await ownRelay()
    const options = { iceTransportPolicy: 'relay' as const, on, mediaTimeoutMs: 3000 }
    const { alice, bob, call, incoming } = await videoCall('da1', 'db1', options)
    await assertFlowing(call, incoming)
    const records = Promise.all([next(alice, 'record', undefined, 40_000), next(bob, 'record', undefined, 40_000)])
    await turn.stop()
    const [ra, rb] = await records
    assert.equal(ra.endReason, 'failed')
    assert.equal(ra.status, 1)
    assert.deepEqual(rb, ra)
  })

  it('a ringing callee prepares its answer but reveals nothing to the caller until its user accepts', async () => {
    const alice = await bot('ha1')
    const bob = await bot('hb1')
    const invited = next(bob, 'invited')
    const call = await alice.call({ to: 'hb1', type: 'video' })
    const { call: incoming } = await invited
    // Let the callee open its camera and build its answer.
    await new Promise((r) => setTimeout(r, 1500))
    const seen = async (side: Call) => {
      const types = new Map<string, number>()
      ;(await side.getStats())?.forEach((r: { type: string }) => types.set(r.type, (types.get(r.type) ?? 0) + 1))
      return types
    }
    const callee = await seen(incoming)
    assert.ok((callee.get('local-candidate') ?? 0) > 0, 'the callee gathered its candidates while ringing')
    const caller = await seen(call)
    assert.equal(caller.get('remote-candidate') ?? 0, 0, 'the caller knows no address of the callee')
    assert.equal(caller.get('inbound-rtp') ?? 0, 0, 'no media reached the caller')

    const entered = next(alice, 'userEnter')
    const volume = next(alice, 'volume', undefined, 5000)
    const quality = next(alice, 'networkQuality', undefined, 5000)
    await incoming.accept()
    await entered
    const [v, q] = await Promise.all([volume, quality])
    assert.ok(v.level >= 0 && v.level <= 1, `volume ${v.level}`)
    assert.ok(q.quality >= 0 && q.quality <= 5, `quality ${q.quality}`)
    await call.hangup()
  })
})
