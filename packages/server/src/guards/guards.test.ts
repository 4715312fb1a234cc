import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import { memoryNonceStore, type NonceStore } from '../auth/checksum.ts'
import { redisCooldowns, redisNonceStore, redisRateLimiter } from '../bus/redis-guards.ts'
import { redisScope, testRedis } from '../../test/redis.ts'
import { seedsBeside } from '../../test/seeds.ts'
import { memoryCooldowns, type Cooldowns } from './cooldowns.ts'
import { clientAddress, proxySet } from './ip-connections.ts'
import { memoryRateLimiter, type RateLimiter } from './rate-limiter.ts'

const rate = { perSecond: 2, burst: 3 }

/**
 * The guards as two nodes see them. In memory both are one node's; in Redis each has its own
 * connection, so what passes here passes across nodes.
 */
interface Nodes {
  nonces: readonly [NonceStore, NonceStore]
  rates: readonly [RateLimiter, RateLimiter]
  cooldowns: readonly [Cooldowns, Cooldowns]
}

interface Implementation {
  name: string
  skip: false | string
  /** Runs `test` on fresh guards, and drops what they kept afterwards. */
  with(test: (nodes: Nodes) => Promise<void>): Promise<void>
}

const redis = await testRedis()
const implementations: Implementation[] = [
  {
    name: 'memory',
    skip: false,
    async with(test) {
      const [nonces, rates, cooldowns] = [memoryNonceStore(), memoryRateLimiter(), memoryCooldowns()]
      await test({ nonces: [nonces, nonces], rates: [rates, rates], cooldowns: [cooldowns, cooldowns] })
    },
  },
  {
    name: 'Redis',
    skip: redis.skip,
    async with(test) {
      const scope = redisScope(redis.url)
      try {
        const [a, b] = [scope.open(), scope.open()]
        await test({
          nonces: [redisNonceStore(a), redisNonceStore(b)],
          rates: [redisRateLimiter(a), redisRateLimiter(b)],
          cooldowns: [redisCooldowns(a), redisCooldowns(b)],
        })
      } finally {
        await scope.drop()
      }
    },
  },
]

/** The behaviour every implementation has, on real clocks: Redis keeps its own time. */
const sharedCases: { name: string; test: (nodes: Nodes) => Promise<void> }[] = [
  {
    name: 'a rate limiter allows a burst over both nodes, then refills at its rate, per key',
    async test({ rates: [a, b] }) {
      const takes = [await a.take('a', rate), await b.take('a', rate), await a.take('a', rate)]
      assert.deepEqual([...takes, await b.take('a', rate)], [true, true, true, false])
      assert.equal(await b.take('b', rate), true, 'another key has its own budget')
      await sleep(600)
      assert.deepEqual([await b.take('a', rate), await a.take('a', rate)], [true, false], 'one more after 0.6 s at 2/s')
    },
  },
  ...seedsBeside(11).map(({ seed, title }) => ({
    name: `concurrent takes from both nodes never pass more than the burst (${title})`,
    async test({ rates }: Nodes) {
      let run = 0
      const slow = { perSecond: 0.001, burst: 0 }
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 20 }),
          fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
          async (burst, from) => {
            const key = `property:${run++}`
            const taken = await Promise.all(from.map((second) => rates[second ? 1 : 0].take(key, { ...slow, burst })))
            assert.equal(taken.filter(Boolean).length, Math.min(burst, from.length))
          },
        ),
        { numRuns: 40, seed },
      )
    },
  })),
  {
    name: 'a nonce store spends each key once, whichever node asks',
    async test({ nonces: [a, b] }) {
      const now = Date.now()
      assert.equal(await a.spend(['a', 'b'], now, 60_000), true)
      assert.equal(await b.spend(['a'], now, 60_000), false)
      assert.equal(await b.spend(['c', 'b'], now, 60_000), false)
      assert.equal(await a.spend(['c'], now, 60_000), false, 'c was spent by the refused attempt too')
      assert.equal(await b.spend(['d'], now, 60_000), true)
    },
  },
  {
    name: 'a spent key is free again once its time is up, and keeps its first expiry',
    async test({ nonces: [a, b] }) {
      assert.equal(await a.spend(['x'], Date.now(), 300), true)
      await sleep(150)
      assert.equal(await b.spend(['x', 'y'], Date.now(), 300), false, 'refused, and x keeps its first expiry')
      await sleep(200)
      assert.equal(await b.spend(['x'], Date.now(), 300), true)
      assert.equal(await a.spend(['y'], Date.now(), 300), false, 'y was spent 200 ms ago')
    },
  },
  {
    name: 'of concurrent spends of one nonce from both nodes, exactly one wins',
    async test({ nonces }) {
      for (let round = 0; round < 10; round++) {
        const keys = [`nonce:${round}`, `sum:${round}`]
        const spends = Array.from({ length: 8 }, (_, i) => nonces[i % 2]!.spend(keys, Date.now(), 60_000))
        assert.equal((await Promise.all(spends)).filter(Boolean).length, 1)
      }
    },
  },
  {
    name: 'a cooldown started on one node holds on the other for its time, then lets go',
    async test({ cooldowns: [a, b] }) {
      await a.start('a', 300)
      assert.equal(await b.active('a'), true)
      assert.equal(await b.active('b'), false)
      await a.start('zero', 0)
      assert.equal(await b.active('zero'), false, 'a cooldown of 0 ms is none')
      await sleep(350)
      assert.equal(await b.active('a'), false)
    },
  },
  {
    name: 'a cooldown keeps the longer of what is left and a new start, and can be cleared',
    async test({ cooldowns: [a, b] }) {
      await a.start('long', 60_000)
      await b.start('long', 100)
      await a.start('grows', 100)
      await b.start('grows', 60_000)
      await sleep(200)
      assert.equal(await a.active('long'), true)
      assert.equal(await a.active('grows'), true)
      await b.clear('long')
      assert.equal(await a.active('long'), false)
    },
  },
]

for (const implementation of implementations) {
  describe(`guards in ${implementation.name}`, { skip: implementation.skip }, () => {
    for (const { name, test } of sharedCases) it(name, () => implementation.with(test))
  })
}

describe('memoryRateLimiter', () => {
  it('allows a burst, then refills at its rate, per key', async () => {
    let now = 0
    const limiter = memoryRateLimiter({ now: () => now })
    const takes = async (key: string, n: number) => {
      const out: boolean[] = []
      for (let i = 0; i < n; i++) out.push(await limiter.take(key, rate))
      return out
    }
    assert.deepEqual(await takes('a', 4), [true, true, true, false])
    assert.deepEqual(await takes('b', 1), [true], 'another key has its own budget')
    now += 500
    assert.deepEqual(await takes('a', 2), [true, false], 'one more after half a second at 2/s')
  })

  it('forgets keys once their bucket is full again, so idle keys hold no memory', async () => {
    let now = 0
    const limiter = memoryRateLimiter({ now: () => now })
    for (let i = 0; i < 1000; i++) await limiter.take(`k${i}`, rate)
    assert.equal(limiter.size, 1000)
    now += 1000 // a bucket that spent one action is full again after half a second at 2/s
    for (let i = 0; i < 600; i++) await limiter.take('busy', rate)
    assert.equal(limiter.size, 1, 'only the key in use is kept')
  })

  it('holds at most maxKeys, forgetting the least recently used', async () => {
    const limiter = memoryRateLimiter({ now: () => 0, maxKeys: 10 })
    for (let i = 0; i < 100; i++) await limiter.take(`k${i}`, rate)
    assert.equal(limiter.size, 10)
  })
})

describe('memoryCooldowns', () => {
  it('holds a key for its time, then lets it go and forgets it', async () => {
    let now = 0
    const cooldowns = memoryCooldowns({ now: () => now })
    await cooldowns.start('a', 1000)
    assert.equal(await cooldowns.active('a'), true)
    assert.equal(await cooldowns.active('b'), false)
    now += 1000
    assert.equal(await cooldowns.active('a'), false)
    assert.equal(cooldowns.size, 0)
  })

  it('drops expired keys as new ones come, and caps how many it holds', async () => {
    let now = 0
    const cooldowns = memoryCooldowns({ now: () => now, maxKeys: 50 })
    for (let i = 0; i < 40; i++) await cooldowns.start(`k${i}`, 1000)
    now += 1000
    await cooldowns.start('fresh', 1000)
    assert.equal(cooldowns.size, 1)
    for (let i = 0; i < 100; i++) await cooldowns.start(`m${i}`, 1000)
    assert.equal(cooldowns.size, 50)
  })

  it('can be cleared before its time', async () => {
    const cooldowns = memoryCooldowns()
    await cooldowns.start('a', 60_000)
    await cooldowns.clear('a')
    assert.equal(await cooldowns.active('a'), false)
  })
})

describe('clientAddress', () => {
  const none = new Set<string>()
  const proxy = new Set(['10.0.0.2'])
  it('is the peer address, with IPv4-mapped IPv6 unwrapped and IPv6 counted by /64', () => {
    assert.equal(clientAddress('::ffff:198.51.100.4', undefined, none), '198.51.100.4')
    assert.equal(clientAddress('2001:db8:1:2:aaaa::1', undefined, none), '2001:db8:1:2::/64')
    assert.equal(clientAddress('2001:db8::1', undefined, none), '2001:db8:0:0::/64')
  })
  it('believes X-Forwarded-For only from a trusted proxy, and only its rightmost untrusted hop', () => {
    assert.equal(clientAddress('198.51.100.4', '203.0.113.9', none), '198.51.100.4')
    assert.equal(clientAddress('10.0.0.2', '1.1.1.1, 203.0.113.9', proxy), '203.0.113.9')
    assert.equal(clientAddress('10.0.0.2', '203.0.113.9, 10.0.0.2', proxy), '203.0.113.9')
    assert.equal(clientAddress('10.0.0.2', 'not-an-ip', proxy), '10.0.0.2')
    assert.equal(clientAddress('::ffff:10.0.0.2', '203.0.113.9', proxySet([' ::FFFF:10.0.0.2'])), '203.0.113.9')
  })
})
