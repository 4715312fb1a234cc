import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { CALL_STATE_TTL_MS, redisCallStateStore } from '../bus/redis-call-state.ts'
import { redisScope, testRedis, type RedisScope } from '../../test/redis.ts'
import { memoryCallStateStore, type CallStateStore } from './ports.ts'
import type { CallState } from './types.ts'

const APP = 'state-app'

/** The live call state as two nodes see it: in memory both are one node's, in Redis each has its own connection. */
type Nodes = readonly [CallStateStore, CallStateStore]

interface Implementation {
  name: string
  skip: false | string
  with(test: (nodes: Nodes, scope?: RedisScope) => Promise<void>): Promise<void>
}

const redis = await testRedis()
const implementations: Implementation[] = [
  {
    name: 'memory',
    skip: false,
    async with(test) {
      const store = memoryCallStateStore()
      await test([store, store])
    },
  },
  {
    name: 'Redis',
    skip: redis.skip,
    async with(test) {
      const scope = redisScope(redis.url)
      try {
        await test([redisCallStateStore(scope.open()), redisCallStateStore(scope.open())], scope)
      } finally {
        await scope.drop()
      }
    },
  },
]

function ringing(callId = randomUUID()): CallState {
  return {
    phase: 'ringing',
    callId,
    appKey: APP,
    type: 'audio',
    caller: { accid: 'alice', deviceId: 'a1' },
    callees: ['bob'],
    isGroup: false,
    createdAt: 1000,
    expiresAt: 31_000,
    members: [{ accid: 'bob', status: 'ringing' }],
    media: 'p2p',
  }
}

function active(s: CallState): CallState {
  return { ...s, phase: 'active', connectedAt: 2000, answeredBy: { accid: 'bob', deviceId: 'b1' } }
}

const sharedCases: { name: string; test: (nodes: Nodes) => Promise<void> }[] = [
  {
    name: 'a new call is written once, and either node reads it with its version',
    async test([a, b]) {
      const s = ringing()
      assert.equal(await a.put(s, undefined), 1)
      assert.equal(await b.put(active(s), undefined), undefined, 'a second new call of the same id loses')
      assert.deepEqual(await b.get(s.callId), { state: s, version: 1 })
      assert.equal(await a.get(randomUUID()), undefined)
    },
  },
  {
    name: 'a write names the version it read: a stale one loses and changes nothing',
    async test([a, b]) {
      const s = ringing()
      await a.put(s, undefined)
      assert.equal(await a.put(active(s), 1), 2)
      assert.equal(await b.put({ ...s, type: 'video' }, 1), undefined, 'b read version 1, a wrote first')
      assert.equal(await b.put({ ...s, type: 'video' }, 3), undefined, 'a version not written yet loses too')
      assert.deepEqual(await b.get(s.callId), { state: active(s), version: 2 })
      assert.equal(await b.put(s, 2), 3)
    },
  },
  {
    name: 'a delete is fenced by version: a stale node cannot forget a newer state, nor write after it',
    async test([a, b]) {
      const s = ringing()
      await a.put(s, undefined)
      await a.put(active(s), 1)
      assert.equal(await b.delete(s.callId, 1), false)
      assert.equal((await a.get(s.callId))?.version, 2, 'still kept')
      assert.equal(await b.delete(s.callId, 2), true)
      assert.equal(await a.get(s.callId), undefined)
      assert.equal(await a.put(active(s), 2), undefined, 'a write over the forgotten version loses')
      assert.equal(await a.delete(s.callId, 2), false, 'so does a second delete')
      assert.equal(await a.get(s.callId), undefined)
    },
  },
  {
    name: 'of concurrent writes and deletes over one version from both nodes, exactly one wins',
    async test(nodes) {
      for (let round = 0; round < 20; round++) {
        const s = ringing()
        await nodes[0].put(s, undefined)
        const attempts = Array.from({ length: 8 }, async (_, i) => {
          const node = nodes[i % 2]!
          return i % 3 === 0 ? node.delete(s.callId, 1) : (await node.put(active(s), 1)) !== undefined
        })
        assert.equal((await Promise.all(attempts)).filter(Boolean).length, 1, `round ${round}`)
      }
    },
  },
  {
    name: 'an account is claimed by one live call at a time, and freed only by the call holding it',
    async test([a, b]) {
      const [first, second] = [ringing(), ringing()]
      await a.put(first, undefined)
      await a.put(second, undefined)
      assert.equal(await a.claim(APP, 'alice', first.callId), true)
      assert.equal(await b.claim(APP, 'alice', second.callId), false, 'busy in the first call')
      assert.equal(await b.claim(APP, 'alice', first.callId), true, 'claiming again for the same call holds')
      assert.equal(await b.claim('other-app', 'alice', second.callId), true, 'another app has its own accounts')
      assert.equal(await b.callOf(APP, 'alice'), first.callId)
      await b.release(APP, 'alice', second.callId)
      assert.equal(await a.callOf(APP, 'alice'), first.callId, 'a call not holding it cannot free it')
      await b.release(APP, 'alice', first.callId)
      assert.equal(await a.callOf(APP, 'alice'), undefined)
      assert.equal(await a.claim(APP, 'alice', second.callId), true)
    },
  },
  {
    name: 'a claim counts for nothing once its call is no longer kept, released or not',
    async test([a, b]) {
      const [gone, next] = [ringing(), ringing()]
      await a.put(gone, undefined)
      await a.put(next, undefined)
      assert.equal(await a.claim(APP, 'bob', gone.callId), true)
      assert.equal(await a.delete(gone.callId, 1), true)
      assert.equal(await b.callOf(APP, 'bob'), undefined, 'its call ended without releasing it')
      assert.equal(await b.claim(APP, 'bob', next.callId), true)
      assert.equal(await a.callOf(APP, 'bob'), next.callId)
    },
  },
  {
    name: 'of N calls claiming one account at once from both nodes, exactly one wins',
    async test(nodes) {
      for (let round = 0; round < 10; round++) {
        const contenders = Array.from({ length: 10 }, () => ringing())
        for (const s of contenders) await nodes[0].put(s, undefined)
        const accid = `carol-${round}`
        const claims = contenders.map((s, i) => nodes[i % 2]!.claim(APP, accid, s.callId))
        const won = (await Promise.all(claims)).flatMap((ok, i) => (ok ? [contenders[i]!.callId] : []))
        assert.equal(won.length, 1, `round ${round}`)
        assert.equal(await nodes[1].callOf(APP, accid), won[0])
      }
    },
  },
]

for (const implementation of implementations) {
  describe(`live call state in ${implementation.name}`, { skip: implementation.skip }, () => {
    for (const { name, test } of sharedCases) it(name, () => implementation.with(test))
  })
}

describe('live call state in Redis: keys', { skip: redis.skip }, () => {
  it('expire far past any call, and an ended call leaves only a short tombstone', async () => {
    const scope = redisScope(redis.url)
    try {
      const link = scope.open()
      const store = redisCallStateStore(link)
      const s = ringing()
      await store.put(s, undefined)
      await store.claim(APP, 'alice', s.callId)
      const ttls = await Promise.all([`call:${s.callId}`, `busy:${APP}:alice`].map((k) => link.client.pttl(k)))
      for (const ttl of ttls) assert.ok(ttl > CALL_STATE_TTL_MS - 60_000 && ttl <= CALL_STATE_TTL_MS, `${ttl}`)
      await store.delete(s.callId, 1)
      await store.release(APP, 'alice', s.callId)
      assert.deepEqual(await scope.keys(), [`${scope.prefix}call:${s.callId}`])
      const left = await link.client.pttl(`call:${s.callId}`)
      assert.ok(left > 0 && left <= 60_000, `the tombstone goes within a minute: ${left}`)
    } finally {
      await scope.drop()
    }
  })
})

describe('live call state in Redis: ringing deadlines', { skip: redis.skip }, () => {
  it('are written with the state: due once their time comes, gone once nothing rings, and a lost write moves none', async () => {
    const scope = redisScope(redis.url)
    try {
      const link = scope.open()
      const [a, b] = [redisCallStateStore(link), redisCallStateStore(scope.open())]
      const s = ringing()
      const other = ringing()
      await a.put(s, undefined)
      await a.put({ ...other, expiresAt: 40_000, members: [{ accid: 'bob', status: 'ringing' }] }, undefined)
      assert.deepEqual(await b.dueCalls!(30_999, 10), [], 'not before its deadline')
      assert.deepEqual(await b.dueCalls!(31_000, 10), [s.callId])
      assert.deepEqual((await b.dueCalls!(50_000, 10)).sort(), [s.callId, other.callId].sort())
      assert.equal((await b.dueCalls!(50_000, 1)).length, 1, 'at most `limit`')

      assert.equal(await b.put({ ...s, expiresAt: 99_000 }, 7), undefined)
      assert.deepEqual(await b.dueCalls!(31_000, 10), [s.callId], 'a write that lost moved nothing')
      const answered: CallState = { ...active(s), members: [{ accid: 'bob', status: 'joined', joinedAt: 2000 }] }
      assert.equal(await b.put(answered, 1), 2)
      assert.deepEqual(await b.dueCalls!(50_000, 10), [other.callId], 'an answered call rings no more')
      assert.equal(await a.delete(other.callId, 1), true)
      assert.deepEqual(await b.dueCalls!(50_000, 10), [])

      // A ringing call whose state expired (its every node died long ago) is dropped, not polled forever.
      const lapsed = ringing()
      await a.put(lapsed, undefined)
      await link.client.del(`call:${lapsed.callId}`)
      assert.deepEqual(await b.dueCalls!(50_000, 10), [])
      assert.equal(await link.client.zscore('deadlines', lapsed.callId), null)
    } finally {
      await scope.drop()
    }
  })
})
