import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { redisCooldowns, redisNonceStore, redisRateLimiter } from '../src/bus/redis-guards.ts'
import { openRedis, type RedisLink } from '../src/bus/redis.ts'
import { freePort } from './services.ts'
import { redisHop, redisScope, testRedis, type RedisScope } from './redis.ts'

const redis = await testRedis()
const rate = { perSecond: 2, burst: 3 }
const DEADLINE_MS = 500
/** Room for a loaded machine: what is checked is that nothing waits for Redis to come back. */
const SLACK_MS = 1500

/** Every guard call, each of which must fail when Redis cannot be reached. */
function guardCalls(link: RedisLink): (() => Promise<unknown>)[] {
  const nonces = redisNonceStore(link)
  const rates = redisRateLimiter(link)
  const cooldowns = redisCooldowns(link)
  return [
    () => nonces.spend(['n'], Date.now(), 1000),
    () => rates.take('k', rate),
    () => cooldowns.start('c', 1000),
    () => cooldowns.active('c'),
    () => cooldowns.clear('c'),
  ]
}

async function assertUnavailable(call: () => Promise<unknown>): Promise<void> {
  const started = performance.now()
  await assert.rejects(call(), { code: 'CLUSTER_UNAVAILABLE', retryable: true })
  const took = performance.now() - started
  assert.ok(took < DEADLINE_MS + SLACK_MS, `refused after ${Math.round(took)} ms, past its deadline`)
}

describe('guards when Redis cannot be reached', () => {
  it('a closed port: every guard call rejects with CLUSTER_UNAVAILABLE within its deadline', async () => {
    const link = openRedis({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: DEADLINE_MS })
    try {
      for (const call of guardCalls(link)) await assertUnavailable(call)
    } finally {
      await link.close()
    }
  })

  it('a Redis that accepts the connection and never answers: rejected at the deadline, not hung', async () => {
    const held = new Set<Socket>()
    const silent = createServer((socket) => held.add(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    const link = openRedis({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: DEADLINE_MS })
    try {
      await Promise.all(guardCalls(link).map(assertUnavailable))
    } finally {
      await link.close()
      for (const socket of held) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })
})

describe('guards in Redis', { skip: redis.skip }, () => {
  const scopes: RedisScope[] = []
  const scope = () => {
    const made = redisScope(redis.url)
    scopes.push(made)
    return made
  }
  after(() => Promise.all(scopes.map((s) => s.drop())))

  it('refuse while Redis is cut off, and count again by themselves once it is back', async () => {
    const hop = await redisHop(new URL(redis.url))
    const link = scope().open({ url: hop.url, commandTimeoutMs: DEADLINE_MS })
    const rates = redisRateLimiter(link)
    const slow = { perSecond: 0.001, burst: 3 }
    assert.equal(await rates.take('k', slow), true)
    await hop.cut()
    await assertUnavailable(() => rates.take('k', slow))
    await hop.restore()
    const deadline = Date.now() + 10_000
    let answer: boolean | undefined
    while (answer === undefined && Date.now() < deadline) {
      answer = await rates.take('k', slow).catch(() => undefined)
    }
    assert.equal(answer, true, 'back by itself')
    const rest = await Promise.all([rates.take('k', slow), rates.take('k', slow)])
    assert.deepEqual(rest, [true, false], 'the same budget as before the outage: three in all')
    await hop.cut()
  })

  it('keep their keys under the prefix, each expiring when it says nothing more', async () => {
    const s = scope()
    const link = s.open()
    await redisRateLimiter(link).take('k', rate)
    await redisNonceStore(link).spend(['n'], Date.now(), 60_000)
    await redisCooldowns(link).start('c', 30_000)
    const keys = await s.keys()
    assert.deepEqual(keys.sort(), [`${s.prefix}cooldown:c`, `${s.prefix}rate:k`, `${s.prefix}spent:n`])
    const ttl = async (key: string) => link.client.pttl(key)
    const rateTtl = await ttl('rate:k')
    assert.ok(rateTtl > 0 && rateTtl <= 500, `one token of 2/s is back within 500 ms, not ${rateTtl}`)
    const nonceTtl = await ttl('spent:n')
    assert.ok(nonceTtl > 59_000 && nonceTtl <= 60_000)
    const cooldownTtl = await ttl('cooldown:c')
    assert.ok(cooldownTtl > 29_000 && cooldownTtl <= 30_000)
  })

  it('a key of the wrong type is a failure of its own, not an outage', async () => {
    const link = scope().open()
    await link.client.set('rate:typed', 'x')
    await assert.rejects(redisRateLimiter(link).take('typed', rate), (error: Error & { code?: string }) => {
      assert.notEqual(error.code, 'CLUSTER_UNAVAILABLE')
      assert.match(error.message, /WRONGTYPE/)
      return true
    })
  })
})
