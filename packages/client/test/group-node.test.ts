import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import wrtc from '@roamhq/wrtc'
import { RingKitError } from '@ringkit/protocol'
import type { Call, RingKit, RingKitEvents } from '../src/index.ts'
import { syntheticMediaDevices } from '../src/node/synthetic.ts'
import { startTestServer, type TestServer } from '../../server/test/support.ts'
import { retireBots, wrtcBot } from './node-bots.ts'

let server: TestServer

before(async () => {
  server = await startTestServer()
})
after(async () => retireBots(async () => server.close()))

const bot = (accid: string) => wrtcBot(server, accid)

/** Every `name` event until `count` of them matched, or a timeout. */
function collect<K extends keyof RingKitEvents>(
  kit: RingKit,
  name: K,
  count: number,
  match: (payload: RingKitEvents[K]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<RingKitEvents[K][]> {
  const seen: RingKitEvents[K][] = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${kit.accid}: ${seen.length}/${count} ${name} in ${timeoutMs} ms`)),
      timeoutMs,
    )
    const off = kit.on(name, (payload) => {
      if (!match(payload)) return
      seen.push(payload)
      if (seen.length < count) return
      clearTimeout(timer)
      off()
      resolve(seen)
    })
  })
}

/** RTP packets received per member and kind, from the call's merged statistics (ids are `accid/…`). */
async function received(call: Call): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  ;(await call.getStats())?.forEach((r: { id: string; type: string; kind?: string; packetsReceived?: number }) => {
    if (r.type !== 'inbound-rtp' || !r.kind) return
    const key = `${r.id.split('/')[0]} ${r.kind}`
    out.set(key, (out.get(key) ?? 0) + (r.packetsReceived ?? 0))
  })
  return out
}

describe('group calls as a mesh, in Node (@roamhq/wrtc)', () => {
  it('three members each receive audio and video from the two others, and share one record', async () => {
    const names = ['meshA', 'meshB', 'meshC']
    const [a, b, c] = await Promise.all(names.map(bot))
    if (!a || !b || !c) return assert.fail('bots')
    const entered = [a, b, c].map((kit) => collect(kit, 'userEnter', 2))
    const ringing = [b, c].map(async (kit) => collect(kit, 'invited', 1))
    const call = await a.groupCall({ to: ['meshB', 'meshC'], type: 'video' })
    const calls = [call, ...(await Promise.all(ringing)).map(([invited]) => invited!.call)]
    await Promise.all(calls.slice(1).map(async (incoming) => incoming.accept()))
    for (const [i, kit] of [a, b, c].entries()) {
      const others = (await entered[i]!).map((e) => e.accid).sort()
      assert.deepEqual(
        others,
        names.filter((name) => name !== kit.accid),
        `${kit.accid} hears both others`,
      )
    }
    // From the moment every stream has arrived, each must keep growing.
    let first = await Promise.all(calls.map(received))
    for (
      let waited = 0;
      first.some((m) => m.size < 4 || [...m.values()].some((p) => p === 0)) && waited < 10_000;
      waited += 250
    ) {
      await new Promise((r) => setTimeout(r, 250))
      first = await Promise.all(calls.map(received))
    }
    await new Promise((r) => setTimeout(r, 1500))
    const second = await Promise.all(calls.map(received))
    for (const [i, me] of names.entries()) {
      for (const other of names.filter((name) => name !== me)) {
        for (const kind of ['audio', 'video']) {
          const key = `${other} ${kind}`
          const was = first[i]?.get(key) ?? 0
          const now = second[i]?.get(key) ?? 0
          assert.ok(was > 0 && now > was, `${me} receives ${key}: ${was} → ${now}`)
        }
      }
    }
    const records = Promise.all([a, b, c].map(async (kit) => collect(kit, 'record', 1)))
    await call.hangup()
    const [ra, rb, rc] = (await records).map(([record]) => record)
    assert.equal(ra?.status, 1)
    assert.deepEqual(rb, ra)
    assert.deepEqual(rc, ra)
    assert.deepEqual(
      ra?.members.map((m) => m.status),
      ['joined', 'joined', 'joined'],
    )
  })

  it('a group of 5 without Janus is refused with SFU_REQUIRED, before anyone rings or a camera opens', async () => {
    const names = ['fiveA', 'fiveB', 'fiveC', 'fiveD', 'fiveE']
    const cameras = syntheticMediaDevices(wrtc)
    let opened = 0
    const counted = {
      enumerateDevices: async () => cameras.enumerateDevices(),
      getUserMedia: async (constraints?: MediaStreamConstraints) => {
        opened++
        return cameras.getUserMedia(constraints)
      },
    }
    const caller = await wrtcBot(server, names[0]!, { mediaDevices: counted })
    const others = await Promise.all(names.slice(1).map(bot))
    const rung = new Set<string>()
    for (const [i, kit] of others.entries()) kit.on('invited', () => rung.add(names[i + 1]!))
    await assert.rejects(
      caller.groupCall({ to: names.slice(1), type: 'video' }),
      (e: unknown) => e instanceof RingKitError && e.code === 'SFU_REQUIRED' && /Janus/.test(e.message),
    )
    // An invitation would have gone out before the refusal, so before the answer to a later request.
    await Promise.all(others.map(async (kit) => kit.getCallHistory({ limit: 1 })))
    assert.deepEqual([...rung], [], 'nobody rang')
    assert.equal(opened, 0, 'no camera or microphone was opened')
    assert.deepEqual(caller.calls, [])
  })
})
