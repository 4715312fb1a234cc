import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import Janode from 'janode'
import VideoRoomPlugin, { type VideoRoomHandle } from 'janode/plugins/videoroom'
import { redisSfuRooms, SFU_HOLD_MS } from '../src/bus/redis-sfu-rooms.ts'
import type { SfuRoom } from '../src/sfu/index.ts'
import { testRedis, redisScope, type RedisScope } from './redis.ts'
import { findProgram, startJanus, type Janus } from './services.ts'
import { assertFlowing, Relay, sleep, waitFor } from './sfu-support.ts'

const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')
const redis = await testRedis()
const skip = typeof janusBinary === 'string' ? redis.skip : janusBinary.skip

let januses: Janus[] = []
let callCount = 0

/** One node of a cluster for one call: its own Redis connection, both Janus listed, the shared registry. */
function node(t: TestContext, scope: RedisScope, callId: string): Relay {
  const [first] = januses
  if (!first) throw new Error('no Janus')
  const relay = new Relay(first, callId, {
    urls: januses.map((janus) => janus.url),
    rooms: redisSfuRooms(scope.open()),
  })
  t.after(async () => relay.close())
  return relay
}

function scopeOf(t: TestContext): RedisScope {
  const scope = redisScope(redis.url)
  t.after(async () => scope.drop())
  return scope
}

/** A VideoRoom handle of the test's own on each Janus, to ask whether a room is there. */
async function outsiders(t: TestContext): Promise<Map<string, VideoRoomHandle>> {
  const found = new Map<string, VideoRoomHandle>()
  for (const janus of januses) {
    const connection = await Janode.connect({ address: { url: janus.url, apisecret: janus.apiSecret }, max_retries: 0 })
    t.after(async () => connection.close().catch(() => undefined))
    found.set(janus.url, await (await connection.create()).attach(VideoRoomPlugin))
  }
  return found
}

async function exists(handles: Map<string, VideoRoomHandle>, room: SfuRoom): Promise<boolean> {
  const handle = handles.get(room.janusUrl)
  if (!handle) throw new Error(`no Janus ${room.janusUrl}`)
  return (await handle.exists({ room: room.room })).exists
}

describe('group calls across nodes share one Janus room (real Janus ×2, Redis, @roamhq/wrtc)', { skip }, () => {
  before(async () => {
    // One api_secret for both, as a node has one for all its Janus servers.
    const apiSecret = randomBytes(16).toString('hex')
    if (typeof janusBinary !== 'string') return
    januses = await Promise.all([startJanus(janusBinary, { apiSecret }), startJanus(janusBinary, { apiSecret })])
  })
  after(async () => {
    await Promise.all(januses.map(async (janus) => janus.stop()))
    // libwebrtc in @roamhq/wrtc can crash while the process tears down: leave explicitly once done.
    setTimeout(() => process.exit(process.exitCode ?? 0), 200)
  })

  it('members on two nodes land in one room, hear each other, and the node that ends the call destroys it once', async (t) => {
    const scope = scopeOf(t)
    const callId = `call-${++callCount}`
    const [a, b] = [node(t, scope, callId), node(t, scope, callId)]
    // Both nodes answer at once: one room is kept, the other node's is destroyed.
    await Promise.all([a.sfu.open('app-sfu', callId), b.sfu.open('app-sfu', callId)])
    const room = await a.sfu.roomOf(callId)
    if (!room) return assert.fail('a room')
    assert.deepEqual(await b.sfu.roomOf(callId), room)
    const devices = [a.device('ann'), b.device('ben'), a.device('cat')]
    await Promise.all(devices.map(async (device) => device.media.publish()))
    await waitFor(
      () => devices.every((device) => device.media.remoteAccids().length === 2),
      15_000,
      () => devices.map((d) => `${d.ref.accid} ← ${d.media.remoteAccids().join(',')}`).join('; '),
    )
    await assertFlowing(devices)
    assert.deepEqual([...a.faults, ...b.faults], [])

    const handles = await outsiders(t)
    assert.equal(await exists(handles, room), true)
    // The call ends on b: the room goes, and a lets go of its part when Janus says the room is gone.
    await b.sfu.close(callId)
    assert.equal(await exists(handles, room), false)
    for (const until = Date.now() + 10_000; (await a.sfu.roomOf(callId)) !== undefined;) {
      if (Date.now() > until) assert.fail('a still holds the destroyed room')
      await sleep(50)
    }
    assert.equal(await redisSfuRooms(scope.open()).get(callId), undefined)
    assert.deepEqual(await scope.keys(), [], 'no registry key left')
    assert.deepEqual([...a.lost, ...b.lost], [], 'the call was never lost')
  })

  it("a device publishing on a node that never opened the call (it resumed there) joins the call's room, and makes none for a call without one", async (t) => {
    const scope = scopeOf(t)
    const callId = `call-${++callCount}`
    const [a, c] = [node(t, scope, callId), node(t, scope, callId)]
    await a.sfu.open('app-sfu', callId)
    const devices = [a.device('ann'), c.device('ben')]
    await Promise.all(devices.map(async (device) => device.media.publish()))
    await waitFor(
      () => devices.every((device) => device.media.remoteAccids().length === 1),
      15_000,
      () => devices.map((d) => `${d.ref.accid} ← ${d.media.remoteAccids().join(',')}`).join('; '),
    )
    assert.deepEqual(await c.sfu.roomOf(callId), await a.sfu.roomOf(callId))
    await a.sfu.close(callId)

    const ended = node(t, scope, callId)
    await assert.rejects(ended.device('cat').media.publish())
    assert.deepEqual(ended.faults, ['cat publish refused: INVALID_STATE'])
    assert.equal(await ended.sfu.roomOf(callId), undefined)
    assert.deepEqual(await scope.keys(), [], 'no room made for an ended call')
  })

  it('new rooms go to the Janus the whole cluster loads least, and a dead node stops counting once its holds lapse', async (t) => {
    const scope = scopeOf(t)
    const calls = Array.from({ length: 4 }, () => `call-${++callCount}`)
    // Each call on a node of its own: each node alone would put its room on the first Janus.
    const relays = calls.map((callId) => node(t, scope, callId))
    const rooms: SfuRoom[] = []
    for (const [i, relay] of relays.entries()) {
      await relay.sfu.open('app-sfu', calls[i]!)
      rooms.push((await relay.sfu.roomOf(calls[i]!))!)
    }
    const perJanus = januses.map((janus) => rooms.filter((room) => room.janusUrl === janus.url).length)
    assert.deepEqual(perJanus, [2, 2])
    const registry = redisSfuRooms(scope.open())
    const urls = januses.map((janus) => janus.url)
    assert.deepEqual([...(await registry.loads(urls)).values()], [2, 2])

    // Nodes stop (as a dead node would, the calls still live): no room is destroyed, no count undone...
    await Promise.all(relays.map(async (relay) => relay.sfu.shutdown()))
    const handles = await outsiders(t)
    for (const room of rooms) assert.equal(await exists(handles, room), true)
    assert.deepEqual([...(await registry.loads(urls)).values()], [2, 2])
    // ...but once their holds lapse, nobody counts them any more.
    const later = redisSfuRooms(scope.open(), () => Date.now() + SFU_HOLD_MS + 1)
    assert.deepEqual([...(await later.loads(urls)).values()], [0, 0])
    // The call still ends once, from a node that never had a member in it.
    const ender = node(t, scope, calls[0]!)
    await ender.sfu.close(calls[0]!)
    assert.equal(await exists(handles, rooms[0]!), false)
    assert.equal(await registry.get(calls[0]!), undefined)
    for (const [i, callId] of calls.entries()) if (i > 0) await ender.sfu.close(callId)
    for (const room of rooms) assert.equal(await exists(handles, room), false)
  })
})
