import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { memoryCooldowns } from './cooldowns.ts'
import { clientAddress, proxySet } from './ip-connections.ts'
import { memoryRateLimiter } from './rate-limiter.ts'

const rate = { perSecond: 2, burst: 3 }

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
