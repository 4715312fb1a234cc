import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { RingKitError, type CallRecord } from '@ringkit/protocol'
import type { Call, RingKit } from '../src/index.ts'
import { startTestServer, type TestServer } from '../../server/test/support.ts'
import { findProgram, startJanus, type Janus } from '../../server/test/services.ts'
import { next, retireBots, wrtcBot } from './node-bots.ts'
import { testPostgres } from '../../server/test/postgres.ts'
import { redisScope, testRedis } from '../../server/test/redis.ts'

const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')
const skip = typeof janusBinary === 'string' ? false : janusBinary.skip

const started: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = []

after(async () => retireBots(...started.map((thing) => async () => ('stop' in thing ? thing.stop() : thing.close()))))

/** A RingKit server with its own Janus, both stopped when the suite ends. */
async function serverWithJanus(): Promise<{ server: TestServer; janus: Janus }> {
  if (typeof janusBinary !== 'string') throw new Error('unreachable: the suite is skipped')
  const janus = await startJanus(janusBinary)
  started.push(janus)
  const server = await startTestServer({ janus: { urls: [janus.url], apiSecret: janus.apiSecret } })
  started.push(server)
  return { server, janus }
}

/** Bytes received per inbound stream (audio and video) of the call's connection with Janus. */
async function inbound(call: Call): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  ;(await call.getStats())?.forEach((r: { id: string; type: string; kind?: string; bytesReceived?: number }) => {
    if (r.type === 'inbound-rtp' && r.kind) out.set(`${r.kind} ${r.id}`, r.bytesReceived ?? 0)
  })
  return out
}

/**
 * A video group call of `names`, the first calling, everyone answered and hearing everyone. Given
 * several servers (nodes of one cluster), the members log in to them in turn.
 */
async function groupOf(
  server: TestServer | TestServer[],
  names: string[],
): Promise<{ kits: RingKit[]; calls: Call[] }> {
  const nodes = Array.isArray(server) ? server : [server]
  const members = await Promise.all(names.map(async (name, i) => wrtcBot(nodes[i % nodes.length]!, name)))
  const [caller, ...callees] = members
  if (!caller) throw new Error('no members')
  const heard = members.map(async (kit) => {
    const others = new Set<string>()
    await next(kit, 'userEnter', (e) => others.add(e.accid).size === names.length - 1, 20_000)
  })
  const invites = callees.map(async (kit) => next(kit, 'invited'))
  const call = await caller.groupCall({ to: names.slice(1), type: 'video' })
  const incoming = await Promise.all(invites)
  await Promise.all(incoming.map(async ({ call: c }) => c.accept()))
  await Promise.all(heard)
  return { kits: members, calls: [call, ...incoming.map((i) => i.call)] }
}

/** Over two seconds, each member's bytes grow on two video and two audio streams: both others'. */
async function assertHearing(calls: Call[], names: string[]): Promise<void> {
  const first = await Promise.all(calls.map(inbound))
  await new Promise((r) => setTimeout(r, 2000))
  const second = await Promise.all(calls.map(inbound))
  for (const [i, name] of names.entries()) {
    const grew = [...second[i]!].filter(([id, bytes]) => bytes > (first[i]!.get(id) ?? 0)).map(([id]) => id)
    assert.equal(grew.filter((id) => id.startsWith('video')).length, 2, `${name} receives 2 videos: ${grew}`)
    assert.equal(grew.filter((id) => id.startsWith('audio')).length, 2, `${name} receives 2 audios: ${grew}`)
  }
}

describe('group calls through Janus, in Node (@roamhq/wrtc)', { skip }, () => {
  it('three members each receive audio and video from both others through Janus, and share one record', async () => {
    const { server } = await serverWithJanus()
    const names = ['sfuA', 'sfuB', 'sfuC']
    const { kits: members, calls } = await groupOf(server, names)
    await assertHearing(calls, names)
    const records = Promise.all(members.map(async (kit) => next(kit, 'record')))
    await calls[0]!.hangup()
    const [ra, ...rest] = await records
    assert.equal(ra?.status, 1)
    assert.equal(ra?.isGroup, true)
    for (const r of rest) assert.deepEqual(r, ra)
  })

  it('Janus dying mid-call ends the call for everyone with mediaServerLost, and the record says so', async () => {
    const { server, janus } = await serverWithJanus()
    const { kits: members } = await groupOf(server, ['lostA', 'lostB', 'lostC'])
    const ends = Promise.all(members.map(async (kit) => next(kit, 'callEnd')))
    const records = Promise.all(members.map(async (kit) => next(kit, 'record')))
    await janus.kill()
    for (const end of await ends) assert.equal(end.reason, 'mediaServerLost')
    const [ra, ...rest] = await records
    assert.equal((ra as CallRecord).endReason, 'mediaServerLost')
    assert.equal(ra?.status, 1)
    for (const r of rest) assert.deepEqual(r, ra)
  })

  it('a Janus that hangs mid-call (socket open, no answers) ends the call too, within its keepalive', async () => {
    const { server, janus } = await serverWithJanus()
    const { kits: members } = await groupOf(server, ['hungA', 'hungB', 'hungC'])
    const ends = Promise.all(members.map(async (kit) => next(kit, 'callEnd', undefined, 30_000)))
    const frozenAt = Date.now()
    await janus.freeze()
    for (const end of await ends) assert.equal(end.reason, 'mediaServerLost')
    // janode pings every 10 s and gives up 5 s later.
    assert.ok(Date.now() - frozenAt < 20_000, `took ${Date.now() - frozenAt} ms`)
  })

  it('Janus down at call time: the group call is refused with SFU_UNAVAILABLE and nobody rings', async () => {
    const server = await startTestServer({
      janus: { urls: ['ws://127.0.0.1:1'], apiSecret: 'x', requestTimeoutMs: 1000 },
    })
    started.push(server)
    const [caller, b, c] = await Promise.all(['downA', 'downB', 'downC'].map(async (name) => wrtcBot(server, name)))
    const rung = [b, c].map(async (kit) =>
      next(kit!, 'invited', () => true, 1500).then(
        () => true,
        () => false,
      ),
    )
    await assert.rejects(
      caller!.groupCall({ to: ['downB', 'downC'], type: 'audio' }),
      (e: unknown) => e instanceof RingKitError && e.code === 'SFU_UNAVAILABLE',
    )
    assert.deepEqual(await Promise.all(rung), [false, false])
    // The caller is not left busy: a 1:1 call, which needs no Janus, goes through.
    const call = await caller!.call({ to: 'downB', type: 'audio' })
    await next(b!, 'invited')
    await call.cancel()
  })
})

const redis = await testRedis()
const postgres = await testPostgres()
const clusterSkip = skip || redis.skip || ('skip' in postgres ? postgres.skip : false)

describe(
  'group calls through Janus on two nodes (PostgreSQL, Redis, two Janus, @roamhq/wrtc)',
  { skip: clusterSkip },
  () => {
    it('members on both nodes meet in one room and hear each other; the call leaves no room behind', async () => {
      if (typeof janusBinary !== 'string' || 'skip' in postgres) throw new Error('unreachable: skipped')
      // One api_secret, and the same Janus list on every node.
      const apiSecret = randomBytes(16).toString('hex')
      const januses = await Promise.all([
        startJanus(janusBinary, { apiSecret }),
        startJanus(janusBinary, { apiSecret }),
      ])
      started.push(...januses)
      const scope = redisScope(redis.url)
      const shared = {
        postgres: { url: postgres.url, schema: postgres.schema() },
        janus: { urls: januses.map((janus) => janus.url), apiSecret },
      }
      const nodes: TestServer[] = []
      // One after the other: the first makes the schema and the default app, the second finds them.
      for (const nodeId of ['node-a', 'node-b']) {
        const node = await startTestServer({ ...shared, redis: { url: redis.url, prefix: scope.prefix }, nodeId })
        started.push(node)
        nodes.push(node)
      }
      // After the nodes stop, before the process leaves.
      started.push({ close: async () => scope.drop() }, { close: async () => postgres.dropSchemas() })
      const roomKeys = async () => (await scope.keys()).filter((key) => key.startsWith(`${scope.prefix}sfu:`))
      const names = ['nodesA', 'nodesB', 'nodesC']
      const { kits: members, calls } = await groupOf(nodes, names)
      await assertHearing(calls, names)
      assert.equal((await roomKeys()).filter((key) => key.includes(':sfu:room:')).length, 1, 'one room for the call')
      const records = Promise.all(members.map(async (kit) => next(kit, 'record')))
      await calls[0]!.hangup()
      const [ra, ...rest] = await records
      assert.equal(ra?.status, 1)
      for (const r of rest) assert.deepEqual(r, ra)
      assert.deepEqual(await roomKeys(), [], 'the room and its count are gone with the call')
    })
  },
)
