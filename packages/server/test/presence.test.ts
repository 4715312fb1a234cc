import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { NODE_HEARTBEAT_MS, NODE_TTL_MS, nodeAlive, startNodeHeartbeat } from '../src/bus/nodes.ts'
import { openRedis } from '../src/bus/redis.ts'
import { redisPresence } from '../src/bus/redis-presence.ts'
import { memoryPresence, type Presence } from '../src/signal/presence.ts'
import { freePort } from './services.ts'
import { redisScope, testRedis, type RedisScope } from './redis.ts'

const redis = await testRedis()
const scopes: RedisScope[] = []
after(() => Promise.all(scopes.map((s) => s.drop())))

/** Short enough to watch entries expire, long enough for a loaded machine to refresh in time. */
const LIFETIME_MS = 600
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
let accounts = 0
/** An account of its own for each case, so that the cases sharing one Redis scope stay apart. */
const account = () => `acc${++accounts}`

interface Kind {
  name: string
  skip: false | string
  /** Presence as `links` nodes see it: one shared view, each node with its own connection. */
  open(links: number, lifetimeMs?: number): Presence[]
}

const kinds: Kind[] = [
  {
    name: 'memory',
    skip: false,
    open(links, lifetimeMs = LIFETIME_MS) {
      const presence = memoryPresence({ lifetimeMs })
      return Array.from({ length: links }, () => presence)
    },
  },
  {
    name: 'Redis',
    skip: redis.skip,
    open(links, lifetimeMs = LIFETIME_MS) {
      const scope = redisScope(redis.url)
      scopes.push(scope)
      return Array.from({ length: links }, () => redisPresence(scope.open(), { lifetimeMs }))
    },
  },
]

const sorted = (devices: { deviceId: string; node: string }[]) => devices.map((d) => `${d.deviceId}@${d.node}`).sort()

for (const kind of kinds) {
  describe(`presence in ${kind.name}`, { skip: kind.skip }, () => {
    it('claims up to the cap, refuses past it, and a device that holds a slot refreshes it or moves it to its new node', async () => {
      const [p] = kind.open(1) as [Presence]
      const accid = account()
      assert.equal(await p.claim('app', accid, 'd1', 'A', 2), 'added')
      assert.equal(await p.claim('app', accid, 'd2', 'B', 2), 'added')
      assert.equal(await p.claim('app', accid, 'd3', 'A', 2), 'full')
      assert.equal(await p.claim('app', accid, 'd1', 'A', 2), 'refreshed', 'a login again at the cap')
      assert.equal(await p.claim('app', accid, 'd2', 'A', 2), 'refreshed', 'a move to another node')
      assert.deepEqual(sorted(await p.devices('app', accid)), ['d1@A', 'd2@A'])
      assert.equal(await p.claim('app', 'other', 'd3', 'A', 2), 'added', 'another account counts apart')
      assert.equal(await p.claim('other-app', accid, 'd3', 'A', 2), 'added', 'so does the same accid in another app')
      for (let i = 0; i < 5; i++) assert.equal(await p.claim('app', `${accid}-open`, `d${i}`, 'A', undefined), 'added')
    })

    it('frees a slot only for the node that holds it', async () => {
      const [p] = kind.open(1) as [Presence]
      const accid = account()
      await p.claim('app', accid, 'd1', 'A', 1)
      assert.equal(await p.release('app', accid, 'd1', 'B'), false)
      assert.equal(await p.claim('app', accid, 'd2', 'B', 1), 'full', 'the slot is still taken')
      await p.claim('app', accid, 'd1', 'B', 1)
      assert.equal(await p.release('app', accid, 'd1', 'A'), false, 'the node the device left cannot free it')
      assert.equal(await p.release('app', accid, 'd1', 'B'), true)
      assert.equal(await p.release('app', accid, 'd1', 'B'), false, 'freed once')
      assert.deepEqual(await p.devices('app', accid), [])
      assert.equal(await p.claim('app', accid, 'd2', 'B', 1), 'added')
    })

    it('an entry its node stops refreshing expires after its lifetime; refreshed ones live on', async () => {
      const [p] = kind.open(1) as [Presence]
      const accid = account()
      await p.claim('app', accid, 'kept', 'A', 2)
      await p.claim('app', accid, 'dead', 'B', 2)
      assert.equal(await p.claim('app', accid, 'new', 'A', 2), 'full')
      for (let waited = 0; waited < 2 * LIFETIME_MS; waited += LIFETIME_MS / 4) {
        await p.refresh('A', [{ appKey: 'app', accid, deviceId: 'kept' }])
        await sleep(LIFETIME_MS / 4)
      }
      assert.deepEqual(sorted(await p.devices('app', accid)), ['kept@A'])
      assert.equal(await p.claim('app', accid, 'new', 'A', 2), 'added')
    })

    it('a refresh leaves a device another node holds alone, and brings back one that expired', async () => {
      const [p] = kind.open(1) as [Presence]
      const accid = account()
      await p.claim('app', accid, 'moved', 'B', 5)
      await p.refresh('A', [{ appKey: 'app', accid, deviceId: 'moved' }])
      assert.deepEqual(sorted(await p.devices('app', accid)), ['moved@B'])
      await p.claim('app', accid, 'lapsed', 'A', 5)
      await sleep(LIFETIME_MS + 200)
      assert.deepEqual(await p.devices('app', accid), [])
      await p.refresh('A', [{ appKey: 'app', accid, deviceId: 'lapsed' }])
      assert.deepEqual(sorted(await p.devices('app', accid)), ['lapsed@A'])
    })

    it('claims racing from two nodes never hold more than the cap, and a device never counts twice', async () => {
      const [a, b] = kind.open(2, 60_000) as [Presence, Presence]
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 4 }),
          fc.array(fc.record({ device: fc.integer({ min: 0, max: 7 }), onB: fc.boolean() }), { maxLength: 16 }),
          async (max, claims) => {
            const accid = account()
            const results = await Promise.all(
              claims.map(({ device, onB }) => (onB ? b : a).claim('app', accid, `d${device}`, onB ? 'B' : 'A', max)),
            )
            const live = await a.devices('app', accid)
            const wanted = new Set(claims.map((c) => c.device)).size
            assert.equal(live.length, Math.min(max, wanted))
            assert.equal(results.filter((r) => r === 'added').length, live.length, 'one add per slot')
            assert.equal(new Set(live.map((d) => d.deviceId)).size, live.length)
          },
        ),
        { numRuns: 60 },
      )
    })
  })
}

describe('presence in Redis, keys and outages', { skip: redis.skip }, () => {
  it("an account's keys expire with its last entry: a cluster's Redis does not fill with departed accounts", async () => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const p = redisPresence(scope.open(), { lifetimeMs: 300 })
    await p.claim('app', 'alice', 'd1', 'A', 2)
    assert.equal((await scope.keys()).length, 2)
    await sleep(500)
    assert.deepEqual(await scope.keys(), [])
  })

  it('a Redis out of reach: claims reject with CLUSTER_UNAVAILABLE, at their deadline', async () => {
    const link = openRedis({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: 300 })
    try {
      const p = redisPresence(link, { lifetimeMs: 1000 })
      const started = performance.now()
      await assert.rejects(p.claim('app', 'alice', 'd1', 'A', 2), { code: 'CLUSTER_UNAVAILABLE' })
      assert.ok(performance.now() - started < 2000, 'refused at the deadline, not hung')
      await assert.rejects(p.refresh('A', [{ appKey: 'app', accid: 'alice', deviceId: 'd1' }]), {
        code: 'CLUSTER_UNAVAILABLE',
      })
    } finally {
      await link.close()
    }
  })
})

describe('node heartbeats', { skip: redis.skip }, () => {
  it('a beating node is alive with a lifetime of NODE_TTL_MS; once it stops, nothing refreshes it', async () => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const link = scope.open()
    let beats = 0
    const errors: unknown[] = []
    const heartbeat = startNodeHeartbeat(
      link,
      'n1',
      async () => void beats++,
      (error) => errors.push(error),
    )
    try {
      await sleep(NODE_HEARTBEAT_MS + 300)
      assert.ok(beats >= 1 && beats <= 2, `${beats} beats: one at once, one a heartbeat later`)
      assert.equal(await nodeAlive(link, 'n1'), true)
      assert.equal(await nodeAlive(link, 'n2'), false)
      const ttl = await link.run((r) => r.pttl('node:n1'))
      assert.ok(ttl > NODE_TTL_MS - 2 * NODE_HEARTBEAT_MS && ttl <= NODE_TTL_MS, `lives ${ttl} ms more`)
    } finally {
      heartbeat.stop()
    }
    const stoppedAt = beats
    await sleep(NODE_HEARTBEAT_MS + 300)
    const ttl = await link.run((r) => r.pttl('node:n1'))
    assert.ok(ttl > 0 && ttl < NODE_TTL_MS - NODE_HEARTBEAT_MS, `refreshed after stop: lives ${ttl} ms more`)
    assert.equal(beats, stoppedAt)
    assert.deepEqual(errors, [])
  })

  it('a node whose Redis is out of reach reports the failure once, not every beat, and does not beat its presence', async () => {
    const link = openRedis({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: 300 })
    const errors: unknown[] = []
    let beats = 0
    const heartbeat = startNodeHeartbeat(
      link,
      'n1',
      async () => void beats++,
      (error) => errors.push(error),
    )
    try {
      await sleep(2 * NODE_HEARTBEAT_MS + 500)
      assert.equal(errors.length, 1)
      assert.equal((errors[0] as { code?: string }).code, 'CLUSTER_UNAVAILABLE')
      assert.equal(beats, 0)
    } finally {
      heartbeat.stop()
      await link.close()
    }
  })
})
