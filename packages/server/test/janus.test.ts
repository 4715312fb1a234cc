import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import Janode from 'janode'
import VideoRoomPlugin, { type VideoRoomHandle } from 'janode/plugins/videoroom'
import { RingKitError } from '@ringkit/protocol'
import { JanusPool } from '../src/sfu/index.ts'
import type { JanusPoolOptions, SfuRoom } from '../src/sfu/index.ts'
import { findProgram, startJanus, type Janus } from './services.ts'

const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')
const skip = typeof janusBinary === 'string' ? false : janusBinary.skip

/** Starts `count` Janus processes that are killed when the test ends, pass or fail. */
async function januses(t: TestContext, count: number): Promise<Janus[]> {
  if (typeof janusBinary !== 'string') throw new Error('unreachable: the suite is skipped')
  const started: Janus[] = []
  t.after(async () => Promise.all(started.map(async (janus) => janus.stop())))
  // One secret for all, as one pool needs.
  const apiSecret = randomBytes(16).toString('hex')
  for (let i = 0; i < count; i++) started.push(await startJanus(janusBinary, { apiSecret }))
  return started
}

/** A pool closed when the test ends. */
function pool(t: TestContext, options: JanusPoolOptions): JanusPool {
  const created = new JanusPool(options)
  t.after(async () => created.close())
  return created
}

/** A VideoRoom handle of our own on `janus`, to look at what the pool did from outside it. */
async function inspect(t: TestContext, janus: Janus, apiSecret = janus.apiSecret): Promise<VideoRoomHandle> {
  const connection = await Janode.connect({ address: { url: janus.url, apisecret: apiSecret }, max_retries: 0 })
  t.after(async () => connection.close().catch(() => undefined))
  const session = await connection.create()
  return session.attach(VideoRoomPlugin)
}

async function exists(handle: VideoRoomHandle, room: SfuRoom): Promise<boolean> {
  return (await handle.exists({ room: room.room })).exists
}

function isSfuUnavailable(error: unknown): boolean {
  return error instanceof RingKitError && error.code === 'SFU_UNAVAILABLE'
}

describe('JanusPool against real Janus processes', { skip }, () => {
  it('createRoom() makes a room with a random id, secret and pin that Janus then has', async (t) => {
    const [janus] = await januses(t, 1)
    if (!janus) return assert.fail('no Janus')
    const sfu = pool(t, { urls: [janus.url], apiSecret: janus.apiSecret })
    const first = await sfu.createRoom()
    const second = await sfu.createRoom()
    assert.equal(first.janusUrl, janus.url)
    assert.ok(Number.isSafeInteger(first.room) && first.room > 0)
    assert.notEqual(first.room, second.room)
    assert.notEqual(first.secret, second.secret)
    assert.notEqual(first.pin, second.pin)
    assert.ok(first.secret.length >= 32 && first.pin.length >= 16)
    const handle = await inspect(t, janus)
    assert.equal(await exists(handle, first), true)
    assert.equal(await exists(handle, second), true)
    // The room is guarded by its secret: destroying it without the secret is refused.
    await assert.rejects(handle.destroy({ room: first.room, secret: 'not-the-secret' }), { message: /^433 / })
    assert.equal(await exists(handle, first), true)
  })

  it('destroyRoom() removes the room from Janus, and a second destroy is a no-op', async (t) => {
    const [janus] = await januses(t, 1)
    if (!janus) return assert.fail('no Janus')
    const sfu = pool(t, { urls: [janus.url], apiSecret: janus.apiSecret })
    const room = await sfu.createRoom()
    assert.equal(await sfu.destroyRoom(room.room), true)
    assert.equal(await exists(await inspect(t, janus), room), false)
    assert.equal(await sfu.destroyRoom(room.room), false)
    assert.deepEqual(sfu.rooms().get(janus.url), [])
  })

  it('a wrong api secret is refused by Janus, and the pool reports SFU_UNAVAILABLE', async (t) => {
    const [janus] = await januses(t, 1)
    if (!janus) return assert.fail('no Janus')
    await assert.rejects(inspect(t, janus, 'wrong-secret'), { message: /^403 / })
    const sfu = pool(t, { urls: [janus.url], apiSecret: 'wrong-secret' })
    await assert.rejects(sfu.createRoom(), isSfuUnavailable)
  })

  it('rooms are spread across two Janus processes, even when they are asked for at once', async (t) => {
    const [a, b] = await januses(t, 2)
    if (!a || !b) return assert.fail('no Janus')
    const sfu = pool(t, { urls: [a.url, b.url], apiSecret: a.apiSecret })
    const rooms = await Promise.all([1, 2, 3, 4].map(async () => sfu.createRoom()))
    const onA = rooms.filter((room) => room.janusUrl === a.url)
    const onB = rooms.filter((room) => room.janusUrl === b.url)
    assert.equal(onA.length, 2)
    assert.equal(onB.length, 2)
    const [handleA, handleB] = [await inspect(t, a), await inspect(t, b)]
    for (const room of onA) assert.deepEqual([await exists(handleA, room), await exists(handleB, room)], [true, false])
    for (const room of onB) assert.deepEqual([await exists(handleA, room), await exists(handleB, room)], [false, true])
  })

  it('a Janus that dies fires onRoomsLost with its rooms, and new rooms go to the living one', async (t) => {
    const [a, b] = await januses(t, 2)
    if (!a || !b) return assert.fail('no Janus')
    const lost: SfuRoom[][] = []
    const sfu = pool(t, { urls: [a.url, b.url], apiSecret: a.apiSecret, onRoomsLost: (rooms) => lost.push(rooms) })
    const rooms = [await sfu.createRoom(), await sfu.createRoom(), await sfu.createRoom()]
    const onA = rooms.filter((room) => room.janusUrl === a.url)
    assert.equal(onA.length, 2)
    await a.kill()
    await waitFor(() => lost.length > 0, 5_000)
    assert.deepEqual(lost, [onA])
    assert.deepEqual(sfu.rooms().get(a.url), [])
    // b has more rooms than the dead a now holds, so only a's failure can send the rooms to b.
    const after = [await sfu.createRoom(), await sfu.createRoom()]
    assert.deepEqual(
      after.map((room) => room.janusUrl),
      [b.url, b.url],
    )
    assert.equal(await sfu.destroyRoom(onA[0]?.room ?? 0), false)
  })

  it('with every Janus down, createRoom() rejects with SFU_UNAVAILABLE within the request timeout', async (t) => {
    const [a, b] = await januses(t, 2)
    if (!a || !b) return assert.fail('no Janus')
    const sfu = pool(t, { urls: [a.url, b.url], apiSecret: a.apiSecret, requestTimeoutMs: 1_000 })
    await sfu.createRoom()
    await Promise.all([a.kill(), b.kill()])
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = performance.now()
      await assert.rejects(sfu.createRoom(), isSfuUnavailable)
      // Two Janus tried in turn, each bounded by the 1 s timeout; refused connections fail at once.
      assert.ok(performance.now() - started < 2_500, `took ${Math.round(performance.now() - started)} ms`)
    }
  })

  it('a Janus that hangs with its socket open makes createRoom() reject after the request timeout', async (t) => {
    const [janus] = await januses(t, 1)
    if (!janus) return assert.fail('no Janus')
    const sfu = pool(t, { urls: [janus.url], apiSecret: janus.apiSecret, requestTimeoutMs: 1_000 })
    await sfu.createRoom()
    await janus.freeze()
    const started = performance.now()
    await assert.rejects(sfu.createRoom(), isSfuUnavailable)
    const took = performance.now() - started
    assert.ok(took >= 900 && took < 2_000, `took ${Math.round(took)} ms`)
  })

  it('a pool of an address where nothing listens rejects with SFU_UNAVAILABLE and a cause naming it', async (t) => {
    const url = 'ws://127.0.0.1:1'
    const sfu = pool(t, { urls: [url], apiSecret: 'x', requestTimeoutMs: 1_000 })
    const error = await sfu.createRoom().catch((caught: unknown) => caught)
    assert.ok(isSfuUnavailable(error))
    assert.ok(error instanceof RingKitError && error.cause instanceof AggregateError)
    assert.equal(error.cause.errors.length, 1)
  })
})

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
