import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import type { ServerOptions } from '../src/index.ts'
import { NODE_HEARTBEAT_MS } from '../src/bus/nodes.ts'
import { redisPresence } from '../src/bus/redis-presence.ts'
import { RawSocket } from './raw-socket.ts'
import { redisHop, redisScope } from './redis.ts'
import { startTestServer, tokenFor, TestDevice, type TestServer } from './support.ts'
import { clusterSuite, serveClusterNode } from './cluster.ts'

const { redis, postgres, servers, scopes } = await clusterSuite()

const RESUME_GRACE_MS = 500
/** How long a dead node's devices keep their slots, as the server reckons it. */
const SLOT_LIFETIME_MS = 3 * NODE_HEARTBEAT_MS + RESUME_GRACE_MS

/** Two nodes of one cluster: one app (the same AppKey and secret), one Redis prefix, own databases. */
async function twoNodes(options: Partial<ServerOptions> = {}, redisUrl = redis.url) {
  const scope = redisScope(redis.url)
  scopes.push(scope)
  const app = { appKey: randomBytes(16).toString('hex'), appSecret: randomBytes(24).toString('hex') }
  const start = (nodeId: string, url: string) =>
    startTestServer({
      ...app,
      nodeId,
      resumeGraceMs: RESUME_GRACE_MS,
      limits: { devicesPerAccount: 2 },
      ...options,
      redis: { url, prefix: scope.prefix, commandTimeoutMs: 500 },
    })
  const nodes = await Promise.all([start('node-a', redisUrl), start('node-b', redis.url)])
  servers.push(...nodes)
  return { a: nodes[0], b: nodes[1], scope }
}

async function login(server: TestServer, accid: string, deviceId: string): Promise<TestDevice> {
  const device = new TestDevice(server, accid, { deviceId })
  await device.kit.login({ accid, token: await tokenFor(server, accid) })
  return device
}

describe('the device cap across two nodes sharing Redis', { skip: redis.skip }, () => {
  it("two devices on node A fill alice's cap of 2: a third on node B is refused TOO_MANY_DEVICES until one on A logs out", async () => {
    const { a, b } = await twoNodes()
    const a1 = await login(a, 'alice', 'a1')
    await login(a, 'alice', 'a2')
    await assert.rejects(login(b, 'alice', 'b1'), { code: 'TOO_MANY_DEVICES' })
    await login(b, 'bob', 'b1')
    await a1.close()
    await login(b, 'alice', 'b1')
    await assert.rejects(login(a, 'alice', 'a3'), { code: 'TOO_MANY_DEVICES' }, 'and node A sees B full in turn')
  })

  it('a device moving to node B keeps its one slot; the node it left cannot free it', async () => {
    const { a, b } = await twoNodes()
    const left = await login(a, 'alice', 'a1')
    await login(a, 'alice', 'a2')
    await login(b, 'alice', 'a1')
    // Its old session on A ends: A does not hold the slot any more, so it stays B's.
    await left.close()
    await assert.rejects(login(b, 'alice', 'b2'), { code: 'TOO_MANY_DEVICES' })
  })

  it('a node that dies without freeing anything: its devices stop counting within their lifetime, and node B fills the cap again', async () => {
    const { a, b } = await twoNodes()
    await login(a, 'alice', 'a1')
    await login(a, 'alice', 'a2')
    servers.splice(servers.indexOf(a), 1)
    await a.close()
    const died = Date.now()
    await assert.rejects(login(b, 'alice', 'b1'), { code: 'TOO_MANY_DEVICES' }, 'a dead node is not known dead at once')

    // Each slot lapses a lifetime after its last refresh, or after its claim if that came later.
    const freedAfter: number[] = []
    while (freedAfter.length < 2 && Date.now() - died < SLOT_LIFETIME_MS + 2000) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      await login(b, 'alice', `b${freedAfter.length + 1}`).then(
        () => freedAfter.push(Date.now() - died),
        (error: { code?: string }) => assert.equal(error.code, 'TOO_MANY_DEVICES'),
      )
    }
    assert.equal(freedAfter.length, 2, `node B still full ${SLOT_LIFETIME_MS + 2000} ms after node A died`)
    // A's last refresh came at most one heartbeat before it died.
    const first = freedAfter[0]!
    assert.ok(
      first >= SLOT_LIFETIME_MS - NODE_HEARTBEAT_MS - 200,
      `slots freed after ${first} ms, before their lifetime`,
    )
    await assert.rejects(login(b, 'alice', 'b3'), { code: 'TOO_MANY_DEVICES' })
  })

  it('with Redis out of reach a new login fails CLUSTER_UNAVAILABLE at once, and a device resuming its session on the node is let in', async (t) => {
    const hop = await redisHop(new URL(redis.url))
    t.after(() => hop.cut())
    const { a } = await twoNodes({}, hop.url)
    const a1 = await login(a, 'alice', 'a1')
    // Tokens come from REST, which needs Redis too.
    const token = await tokenFor(a, 'alice')
    await hop.cut()
    const started = performance.now()
    const a2 = new TestDevice(a, 'alice', { deviceId: 'a2' })
    await assert.rejects(a2.kit.login({ accid: 'alice', token }), { code: 'CLUSTER_UNAVAILABLE' })
    assert.ok(performance.now() - started < 3000, 'refused at the deadline, not hung')
    a1.kit.simulateNetworkDrop()
    await a1.next('reconnected')
    assert.deepEqual((await a1.kit.getCallHistory({ limit: 1 })).records, [], 'logged in, and answered')
  })
})

/** A TCP hop to Redis that holds every chunk `delayMs` each way, in order: a slow link, not a cut one. */
async function slowRedis(delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(redis.url)
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname)
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from)
      from.on('error', () => {})
      from.on('close', () => to.destroy())
      from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve))
      for (const socket of sockets) socket.destroy()
      await closed
    },
  }
}

describe('a revoke while a login waits on its device slot', { skip: redis.skip }, () => {
  it('refuses the login with TOKEN_REVOKED and gives its slot back', async (t) => {
    // Each Redis round trip takes 2 × 200 ms. The revoke spends two (nonce, REST budget) before it
    // writes and kicks; a login sent one and a half round trips after it has read the account by
    // then, and is waiting on its claim when the kick comes.
    const roundTripMs = 400
    const hop = await slowRedis(roundTripMs / 2)
    t.after(() => hop.close())
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const server = await startTestServer({ redis: { url: hop.url, prefix: scope.prefix } })
    servers.push(server)
    const token = await tokenFor(server, 'alice')
    const socket = await RawSocket.open(server)
    t.after(() => socket.close())

    const revoked = server.rest('POST', '/v1/accounts/alice/revoke')
    await new Promise((resolve) => setTimeout(resolve, 1.5 * roundTripMs))
    socket.send({ type: 'login', id: 'login', appKey: server.app.appKey, accid: 'alice', token, deviceId: 'd1' })
    assert.equal((await revoked).status, 200)
    const answer = await socket.answer('login')
    assert.equal(answer?.error?.code, 'TOKEN_REVOKED', JSON.stringify(answer))

    const presence = redisPresence(scope.open(), { lifetimeMs: 60_000 })
    let held = await presence.devices(server.app.appKey, 'alice')
    for (let tries = 0; held.length > 0 && tries < 20; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      held = await presence.devices(server.app.appKey, 'alice')
    }
    assert.deepEqual(held, [], 'the refused login holds no slot')
  })
})

describe('ringkit serve --node-id', { skip: redis.skip || ('skip' in postgres ? postgres.skip : false) }, () => {
  it('names the node in the cluster: its heartbeat key carries the name, and it says so on start', async () => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    if ('skip' in postgres) throw new Error(postgres.skip)
    const node = await serveClusterNode(postgres, redis.url, scope, { RINGKIT_NODE_ID: 'web-1' })
    try {
      assert.match(node.run.stdout(), /^This node is web-1 in the cluster; device caps count across its nodes$/m)
      // The first beat is under way when the node starts serving.
      let keys: string[] = []
      for (let tries = 0; !keys.includes(`${scope.prefix}node:web-1`) && tries < 20; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        keys = await scope.keys()
      }
      assert.ok(keys.includes(`${scope.prefix}node:web-1`), keys.join(', '))
    } finally {
      await node.stop()
    }
  })
})
