import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createToken, type ServerOptions } from '../src/index.ts'
import { freePort } from './services.ts'
import { redisHop, redisScope } from './redis.ts'
import { signedHeaders, startTestServer, TestDevice, type TestServer } from './support.ts'
import { clusterSuite, serveClusterNode } from './cluster.ts'

const { redis, postgres, servers, scopes } = await clusterSuite()

/**
 * Two nodes as a cluster has them: each its own process state and database here, one app (the
 * same AppKey and secret) and one Redis prefix. What one spends, the other must see spent.
 */
async function twoNodes(options: Partial<ServerOptions> = {}): Promise<[TestServer, TestServer]> {
  const scope = redisScope(redis.url)
  scopes.push(scope)
  const app = { appKey: randomBytes(16).toString('hex'), appSecret: randomBytes(24).toString('hex') }
  const start = () => startTestServer({ ...app, ...options, redis: { url: redis.url, prefix: scope.prefix } })
  const nodes = await Promise.all([start(), start()])
  servers.push(...nodes)
  return nodes
}

async function get(server: TestServer, path: string, headers: Record<string, string>) {
  const res = await fetch(`${server.url}${path}`, { headers })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : text }
}

describe('guards across two nodes sharing Redis', { skip: redis.skip }, () => {
  it('a CheckSum spent on one node is refused as NONCE_REUSED on the other', async () => {
    const [a, b] = await twoNodes()
    const captured = signedHeaders(a.app)
    assert.equal((await get(a, '/metrics', captured)).status, 200)
    const replayed = await get(b, '/metrics', captured)
    assert.equal(replayed.status, 401)
    assert.equal(replayed.body.error.code, 'NONCE_REUSED')
    const again = await get(a, '/metrics', captured)
    assert.equal(again.body.error.code, 'NONCE_REUSED', 'and on the node that took it')
    assert.equal((await get(b, '/metrics', signedHeaders(b.app))).status, 200, 'a fresh request passes')
  })

  it("a REST budget spent on one node is spent on the other: the app's fourth request is 429 wherever it lands", async () => {
    const [a, b] = await twoNodes({ limits: { rest: { perSecond: 0.001, burst: 3 } } })
    const answers = []
    for (const node of [a, b, a, b, a]) {
      const res = await get(node, '/v1/accounts/nobody', signedHeaders(node.app))
      answers.push(res.status === 429 ? res.body.error.code : res.status)
    }
    assert.deepEqual(answers, [404, 404, 404, 'RATE_LIMITED', 'RATE_LIMITED'])
  })

  it('an account ringing from both nodes spends one invite budget, and a decline on one node cools calls on the other', async () => {
    const [a, b] = await twoNodes({ limits: { invites: { perSecond: 0.001, burst: 3 }, declineCooldownMs: 60_000 } })
    const alice = [
      await TestDevice.online(a, 'alice', { deviceId: 'a' }),
      await TestDevice.online(b, 'alice', { deviceId: 'b' }),
    ]
    const bob = [await TestDevice.online(a, 'bob'), await TestDevice.online(b, 'bob')]
    const carol = await TestDevice.online(b, 'carol')

    // Rung from node A, declined there: node B refuses alice's call to bob before anyone rings.
    const declined = await alice[0]!.kit.call({ to: 'bob', type: 'audio' })
    const { call: ringing } = await bob[0]!.next('invited', (e) => e.call.callId === declined.callId)
    await ringing.reject()
    await alice[0]!.next('record', (r) => r.callId === declined.callId)
    await assert.rejects(alice[1]!.kit.call({ to: 'bob', type: 'audio' }), { code: 'DECLINED_RECENTLY' })
    assert.equal(await bob[1]!.quiet('invited'), true, 'the refused call rang nobody on node B')

    // The refused call spent from the budget of three too, as on one node: one more call (to carol,
    // from node B) uses it up, and the next is refused on node A.
    const call = await alice[1]!.kit.call({ to: 'carol', type: 'audio' })
    await carol.next('invited', (e) => e.call.callId === call.callId)
    await call.cancel()
    await alice[1]!.next('record', (r) => r.callId === call.callId)
    await assert.rejects(alice[0]!.kit.call({ to: 'bob', type: 'audio' }), { code: 'RATE_LIMITED' })
  })
})

describe(
  'ringkit serve --postgres --redis',
  { skip: redis.skip || ('skip' in postgres ? postgres.skip : false) },
  () => {
    it('counts in the Redis and under the prefix it is given', async () => {
      const scope = redisScope(redis.url)
      scopes.push(scope)
      const app = { appKey: 'cli-redis', appSecret: randomBytes(24).toString('hex') }
      if ('skip' in postgres) throw new Error(postgres.skip)
      const node = await serveClusterNode(postgres, redis.url, scope, {
        RINGKIT_APP_KEY: app.appKey,
        RINGKIT_APP_SECRET: app.appSecret,
      })
      try {
        assert.match(
          node.run.stdout(),
          new RegExp(`^Nonces and limits shared through Redis at redis://.* \\(prefix ${scope.prefix}\\)$`, 'm'),
        )
        assert.equal((await fetch(`${node.url}/metrics`, { headers: signedHeaders(app) })).status, 200)
        const keys = await scope.keys()
        assert.ok(
          keys.some((k) => k.startsWith(`${scope.prefix}spent:nonce`)),
          keys.join(', '),
        )
      } finally {
        await node.stop()
      }
    })
  },
)

describe('a node whose Redis cannot be reached', () => {
  it('answers REST with 503 CLUSTER_UNAVAILABLE and refuses new logins with it, at once', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`
    const server = await startTestServer({ redis: { url, commandTimeoutMs: 500 } })
    servers.push(server)
    const res = await get(server, '/v1/accounts/alice', signedHeaders(server.app))
    assert.equal(res.status, 503)
    assert.equal(res.body.error.code, 'CLUSTER_UNAVAILABLE')
    assert.equal(res.headers.get('retry-after'), '1')
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the node itself is up')
    const ready = await fetch(`${server.url}/readyz`)
    assert.equal(ready.status, 503, 'but it should get no new traffic')
    assert.equal(((await ready.json()) as { error: { code: string } }).error.code, 'CLUSTER_UNAVAILABLE')

    // A new login takes a device slot, counted in Redis: a cap that cannot count lets nobody in.
    await server.store.createAccount(server.app.appKey, { accid: 'alice' }, Date.now())
    const alice = new TestDevice(server, 'alice')
    const { token } = await createToken({ ...server.app, accid: 'alice' })
    const started = performance.now()
    await assert.rejects(alice.kit.login({ accid: 'alice', token }), { code: 'CLUSTER_UNAVAILABLE', retryable: true })
    assert.ok(performance.now() - started < 2000, 'refused at the deadline, not after the request timeout')
  })
})

describe('a node that loses Redis during a call', { skip: redis.skip }, () => {
  it('refuses to change the call or start new ones with CLUSTER_UNAVAILABLE, and takes both again once Redis is back', async (t) => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const hop = await redisHop(new URL(redis.url))
    t.after(() => hop.cut())
    const server = await startTestServer({ redis: { url: hop.url, prefix: scope.prefix, commandTimeoutMs: 500 } })
    servers.push(server)
    const [alice, bob] = [await TestDevice.online(server, 'alice'), await TestDevice.online(server, 'bob')]
    const first = await alice.kit.call({ to: 'bob', type: 'audio' })
    const { call: ringing } = await bob.next('invited', (e) => e.call.callId === first.callId)

    await hop.cut()
    // The call lives in Redis: no node may change it unseen by the others.
    await assert.rejects(ringing.reject(), { code: 'CLUSTER_UNAVAILABLE' })
    await assert.rejects(alice.kit.call({ to: 'bob', type: 'audio' }), { code: 'CLUSTER_UNAVAILABLE' })
    assert.equal((await server.rest('GET', '/v1/accounts/alice')).status, 503)

    await hop.restore()
    const deadline = Date.now() + 10_000
    const throughOnceBack = async <T>(attempt: () => Promise<T>): Promise<T | undefined> => {
      while (Date.now() < deadline) {
        const done = await attempt().then(
          (value) => ({ value }),
          (error: { code?: string }) => {
            assert.equal(error.code, 'CLUSTER_UNAVAILABLE')
            return undefined
          },
        )
        if (done) return done.value
      }
      return undefined
    }
    await throughOnceBack(() => ringing.reject())
    assert.equal(
      (await alice.next('record', (r) => r.callId === first.callId)).status,
      3,
      'declined once Redis is back',
    )
    await assert.rejects(alice.kit.call({ to: 'bob', type: 'audio' }), { code: 'DECLINED_RECENTLY' })
    // Bob calling back is not cooled down: the decline counted in Redis, as it does with Redis up.
    const again = await throughOnceBack(() => bob.kit.call({ to: 'alice', type: 'audio' }))
    assert.ok(again, 'calls again within 10 s of Redis coming back')
    await alice.next('invited', (e) => e.call.callId === again.callId)
    await again.cancel()
    await bob.next('record', (r) => r.callId === again.callId)
    assert.equal((await server.rest('GET', '/v1/accounts/alice')).status, 200)
  })
})
