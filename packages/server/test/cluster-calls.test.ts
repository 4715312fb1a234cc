import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { RECORD_STATUS, RingKitError, type CallRecord } from '@ringkit/protocol'
import { skipUnless } from './postgres.ts'
import { redisHop, redisScope, type RedisScope } from './redis.ts'
import type { ServerOptions } from '../src/index.ts'
import { redisPresence } from '../src/bus/redis-presence.ts'
import { ClusterDelivery } from '../src/bus/cluster-delivery.ts'
import { memoryPresence } from '../src/signal/presence.ts'
import { SessionRegistry } from '../src/signal/SessionRegistry.ts'
import { RawSocket } from './raw-socket.ts'
import { RawDevice, until } from './memory-support.ts'
import { signedHeaders, startTestServer, TestDevice, tokenFor, waitFor, type TestServer } from './support.ts'
import { clusterSuite } from './cluster.ts'

const { redis, postgres, servers, scopes } = await clusterSuite()

/** Two nodes of one cluster: one PostgreSQL schema, one Redis prefix, so one default app. */
async function twoNodes(
  redisOfB = redis.url,
  options: Partial<ServerOptions> = {},
): Promise<{ a: TestServer; b: TestServer; scope: RedisScope }> {
  if ('skip' in postgres) throw new Error(postgres.skip)
  const scope = redisScope(redis.url)
  scopes.push(scope)
  const pg = { url: postgres.url, schema: postgres.schema() }
  // A short deadline only where a test cuts B's Redis, so that B notices soon; elsewhere the
  // default, or a loaded machine's slow answer would read as Redis being away.
  const cutting = redisOfB !== redis.url
  const redisOf = (url: string) => ({ url, prefix: scope.prefix, ...(cutting ? { commandTimeoutMs: 500 } : {}) })
  // One after the other: the first makes the schema and the default app, the second finds them.
  const a = await startTestServer({ ...options, postgres: pg, redis: redisOf(redis.url), nodeId: 'node-a' })
  const b = await startTestServer({ ...options, postgres: pg, redis: redisOf(redisOfB), nodeId: 'node-b' })
  servers.push(a, b)
  return { a, b, scope }
}

const skip = redis.skip ? { skip: redis.skip } : skipUnless(postgres)

/** Logged-in devices a node holds now, as its /metrics says. */
async function sessionsOn(server: TestServer): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: signedHeaders(server.app) })
  return Number(/^ringkit_sessions (\d+)$/m.exec(await res.text())?.[1])
}

function assertOneToOne(record: CallRecord, status: number, caller: string, callee: string) {
  assert.equal(record.status, status)
  assert.equal(record.caller, caller)
  assert.deepEqual(record.callees, [callee])
}

describe('calls whose parties sit on different nodes', skip, () => {
  it('alice on A calls bob on B: it rings, is answered, both hang up, and each side gets one record with status 1', async () => {
    const { a, b } = await twoNodes()
    const alice = await TestDevice.online(a, 'alice')
    const bob = await TestDevice.online(b, 'bob')
    const call = await alice.kit.call({ to: 'bob', type: 'audio' })
    const invited = await bob.next('invited')
    assert.equal(invited.call.callId, call.callId)
    await invited.call.accept()
    await alice.next('userAccept', (e) => e.accid === 'bob')
    // Both at once: whichever hang-up the cluster takes second finds the call over already.
    const hangups = await Promise.allSettled([call.hangup(), invited.call.hangup()])
    assert.ok(
      hangups.some((h) => h.status === 'fulfilled'),
      'one hang-up ends the call',
    )
    for (const h of hangups)
      if (h.status === 'rejected') assert.equal((h.reason as { code?: string }).code, 'CALL_NOT_FOUND')
    await Promise.all([alice.next('callEnd'), bob.next('callEnd')])
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assertOneToOne(ra, RECORD_STATUS.completed, 'alice', 'bob')
    assert.deepEqual(rb, ra)
    assert.ok(await alice.quiet('record'), 'alice got exactly one record')
    assert.ok(await bob.quiet('record'), 'bob got exactly one record')
    const stored = await b.rest('GET', `/v1/calls/${call.callId}`)
    assert.deepEqual(stored.body, ra, 'node B reads the record node A or B wrote')
  })

  it('bob on B rejects: both sides get one record with status 3', async () => {
    const { a, b } = await twoNodes()
    const alice = await TestDevice.online(a, 'alice')
    const bob = await TestDevice.online(b, 'bob')
    await alice.kit.call({ to: 'bob', type: 'video' })
    const { call } = await bob.next('invited')
    await call.reject()
    await alice.next('userReject', (e) => e.accid === 'bob')
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assertOneToOne(ra, RECORD_STATUS.rejected, 'alice', 'bob')
    assert.deepEqual(rb, ra)
    assert.ok(await alice.quiet('record'), 'exactly one record')
  })

  it('one account on both nodes: a call rings its device on each, and answering on one stops the other', async () => {
    const { a, b } = await twoNodes()
    const alice = await TestDevice.online(a, 'alice')
    const bobA = await TestDevice.online(a, 'bob', { deviceId: 'bob-a' })
    const bobB = await TestDevice.online(b, 'bob', { deviceId: 'bob-b' })
    const call = await alice.kit.call({ to: 'bob', type: 'audio' })
    const [onA, onB] = await Promise.all([bobA.next('invited'), bobB.next('invited')])
    assert.equal(onA.call.callId, call.callId)
    assert.equal(onB.call.callId, call.callId)
    await onB.call.accept()
    await bobA.next('otherClientAccept')
    await call.hangup()
    await Promise.all([alice.next('record'), bobA.next('record'), bobB.next('record')])
  })

  it('a device of bob logging in on node B while a call from node A rings him is rung too', async () => {
    const { a, b } = await twoNodes()
    const alice = await TestDevice.online(a, 'alice')
    const first = await TestDevice.online(a, 'bob', { deviceId: 'bob-a' })
    const call = await alice.kit.call({ to: 'bob', type: 'audio' })
    await first.next('invited')
    const late = await TestDevice.online(b, 'bob', { deviceId: 'bob-b' })
    const invited = await late.next('invited')
    assert.equal(invited.call.callId, call.callId)
    await invited.call.accept()
    await Promise.all([alice.next('userAccept'), first.next('otherClientAccept')])
    await call.hangup()
    await Promise.all([alice.next('record'), first.next('record'), late.next('record')])
  })

  it("bob's device logging in late on node B gets the offer and candidates alice sent through node A while it rang, in order", async () => {
    const { a, b, scope } = await twoNodes()
    const { device: alice } = await RawDevice.login(a, 'alice')
    const first = await TestDevice.online(a, 'bob', { deviceId: 'bob-a' })
    try {
      const callId = (await alice.answer(alice.send({ type: 'call', to: ['bob'], callType: 'video' }))).result?.callId
      await first.next('invited')
      const sent = ['offer', 'candidate 1', 'candidate 2', 'candidate 3']
      for (const n of sent)
        assert.equal((await alice.answer(alice.send({ type: 'signal', callId, data: { n } }))).type, 'reply')
      const { device: late } = await RawDevice.login(b, 'bob', { deviceId: 'bob-b' })
      try {
        await late.event('invited')
        alice.send({ type: 'signal', callId, data: { n: 'marker' } })
        await late.event('signal', (f) => (f.data?.data as { n?: unknown }).n === 'marker')
        const got = late.frames.flatMap((f) => (f.name === 'signal' ? [(f.data?.data as { n?: unknown }).n] : []))
        assert.deepEqual(got, [...sent, 'marker'])
        assert.equal((await alice.answer(alice.send({ type: 'cancel', callId }))).type, 'reply')
        await first.next('record')
        // Well before the keys would expire with the ringing deadline (a minute away).
        const ringKeys = async () => (await scope.keys()).filter((key) => key.startsWith(`${scope.prefix}ring:`))
        await until('a call that stops ringing keeps nothing in Redis', async () => (await ringKeys()).length === 0)
      } finally {
        late.socket.terminate()
      }
    } finally {
      alice.socket.terminate()
    }
  })

  it("a device whose node's heartbeat stopped is not online: calling its account fails with CALLEE_OFFLINE", async () => {
    const { a, scope } = await twoNodes()
    const link = scope.open()
    // A slot that outlives its node, as one of a node that was killed a moment ago does.
    await redisPresence(link, { lifetimeMs: 60_000 }).claim(a.app.appKey, 'bob', 'ghost', 'node-dead', undefined)
    await a.rest('POST', '/v1/accounts', { accid: 'bob', name: 'bob' })
    const alice = await TestDevice.online(a, 'alice')
    await assert.rejects(alice.kit.call({ to: 'bob', type: 'audio' }), { code: 'CALLEE_OFFLINE' })
    // The same slot counts while its node beats.
    await link.run((r) => r.set('node:node-dead', '1', 'PX', 5000))
    const call = await alice.kit.call({ to: 'bob', type: 'audio' })
    assert.ok(call.callId)
    // The hop to another node runs after the call's reply: look until it has landed.
    const inbox = `${scope.prefix}inbox:{node-dead}`
    const until = Date.now() + 5000
    while (!(await scope.keys()).includes(inbox) && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    assert.ok((await scope.keys()).includes(inbox), 'its invite waits in that node\u2019s inbox')
    await call.cancel()
  })

  it('a group call with members on both nodes (mesh) rings everyone, and records once', async () => {
    const { a, b } = await twoNodes()
    const ann = await TestDevice.online(a, 'ann')
    const bob = await TestDevice.online(b, 'bob')
    const cat = await TestDevice.online(a, 'cat')
    const dan = await TestDevice.online(b, 'dan')
    const call = await ann.kit.groupCall({ to: ['bob', 'cat', 'dan'], type: 'audio' })
    const rung = await Promise.all([bob, cat, dan].map((d) => d.next('invited')))
    for (const invited of rung) assert.equal(invited.call.callId, call.callId)
    for (const invited of rung) await invited.call.accept()
    await ann.next('userAccept', (e) => e.accid === 'dan')
    await bob.next('userAccept', (e) => e.accid === 'cat')
    for (const invited of rung) await invited.call.hangup()
    const records = await Promise.all([ann, bob, cat, dan].map((d) => d.next('record')))
    for (const r of records) assert.deepEqual(r, records[0])
    assert.equal(records[0]!.isGroup, true)
    const stored = await a.rest('GET', `/v1/calls/${call.callId}`)
    assert.deepEqual(stored.body, records[0])
    for (const d of [ann, bob, cat, dan]) assert.ok(await d.quiet('record'), `${d.accid}: exactly one record`)
  })

  it("a revoke through node A's REST kicks bob's device on node B", async () => {
    const { a, b } = await twoNodes()
    const bob = await TestDevice.online(b, 'bob')
    const res = await a.rest('POST', '/v1/accounts/bob/revoke')
    assert.equal(res.status, 200)
    assert.deepEqual(await bob.next('kickedOffline'), { reason: 'revoked' })
    assert.equal(bob.kit.online, false)
  })

  it("a revoke through node A while node B's heartbeat has lapsed (its Redis cut off) kicks bob once B is back", async () => {
    const hop = await redisHop(new URL(redis.url))
    try {
      // A grace long enough that bob's slot outlives B's heartbeat by far: B keeps its sessions.
      const { a, b, scope } = await twoNodes(hop.url, { resumeGraceMs: 30_000 })
      const bob = await TestDevice.online(b, 'bob')
      await hop.cut()
      const link = scope.open()
      await until('node B counted dead', async () => (await link.run((r) => r.exists('node:node-b'))) === 0, 8000)
      const res = await a.rest('POST', '/v1/accounts/bob/revoke')
      assert.equal(res.status, 200)
      assert.equal(bob.kit.online, true, 'node B cannot read its inbox meanwhile')
      await hop.restore()
      assert.deepEqual(await bob.next('kickedOffline'), { reason: 'revoked' })
      assert.equal(await sessionsOn(b), 0)
    } finally {
      await hop.cut()
    }
  })

  it('a single-device app: logging in on node B kicks the device on node A', async () => {
    const { a, b } = await twoNodes()
    const app = await a.createApp({ name: 'single', multiDevice: false })
    const old = await TestDevice.online(a, 'bob', { deviceId: 'old', app })
    const fresh = await TestDevice.online(b, 'bob', { deviceId: 'new', app })
    assert.deepEqual(await old.next('kickedOffline'), { reason: 'otherLogin' })
    assert.equal(fresh.kit.online, true)
  })

  it('a device logging in again on node B replaces its session on node A: the old one is closed and rings no more', async () => {
    const { a, b } = await twoNodes()
    const old = await RawSocket.login(a, 'bob', 'phone')
    const again = await TestDevice.online(b, 'bob', { deviceId: 'phone' })
    // 4003: replaced by its own device, as a login again on one node closes it.
    assert.equal(await old.closed, 4003)
    assert.equal(await sessionsOn(a), 0, 'node A holds no session of it')
    const alice = await TestDevice.online(a, 'alice')
    const call = await alice.kit.call({ to: 'bob', type: 'audio' })
    assert.equal((await again.next('invited')).call.callId, call.callId)
    await call.cancel()
    await again.next('record')
  })

  it("node B's Redis connection blinks while alice rings bob: B reads its inbox on from where it was, and bob rings", async () => {
    const hop = await redisHop(new URL(redis.url))
    try {
      const { a, b } = await twoNodes(hop.url)
      const alice = await TestDevice.online(a, 'alice')
      const bob = await TestDevice.online(b, 'bob')
      await hop.cut()
      const call = await alice.kit.call({ to: 'bob', type: 'audio' })
      await new Promise((resolve) => setTimeout(resolve, 700))
      assert.ok(!bob.names().includes('invited'), 'node B cannot read its inbox meanwhile')
      await hop.restore()
      const invited = await bob.next('invited')
      assert.equal(invited.call.callId, call.callId)
      await invited.call.accept()
      await alice.next('userAccept')
      await call.hangup()
      const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
      assert.deepEqual(rb, ra)
      assert.equal(bob.names().filter((n) => n === 'invited').length, 1, 'rung once')
    } finally {
      await hop.cut()
    }
  })

  it('logins on node B racing a revoke through node A: each that got in is kicked, none is left logged in', async () => {
    const { a, b } = await twoNodes(redis.url, { limits: { connectionsPerIp: 1000, devicesPerAccount: 1000 } })
    const accid = 'race-victim'
    const token = await tokenFor(a, accid)
    const racers = await Promise.all(Array.from({ length: 60 }, async () => RawSocket.open(b)))
    const login = (i: number) =>
      racers[i]!.send({ type: 'login', id: 'login', appKey: b.app.appKey, accid, token, deviceId: `racer-${i}` })
    let sent = 0
    let revoke: Promise<{ status: number }> | undefined
    const answered = () => racers.some((socket) => socket.frames.some((f) => f.id === 'login'))
    // The last 20 wait for the revoke's answer: whatever the timing, some logins come after it.
    const held = 20
    while (sent < racers.length - held) {
      for (const end = Math.min(sent + 3, racers.length - held); sent < end; sent++) login(sent)
      if (!revoke && answered()) revoke = a.rest('POST', `/v1/accounts/${accid}/revoke`)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    // On a loaded machine no login may be answered yet: the revoke waits for one that got in.
    if (!revoke) {
      await waitFor('a login answered', answered, 10_000)
      revoke = a.rest('POST', `/v1/accounts/${accid}/revoke`)
    }
    const revoked = await revoke
    assert.equal(revoked.status, 200, JSON.stringify(revoked))
    while (sent < racers.length) login(sent++)
    const logins = await Promise.all(racers.map(async (socket) => socket.answer('login')))
    const outcomes = logins.map((l) => (l?.type === 'reply' ? 'logged in' : (l?.error?.code ?? 'no answer')))
    assert.ok(outcomes.includes('logged in'), 'some logins went through before the revoke')
    assert.deepEqual([...new Set(outcomes)].sort(), ['TOKEN_REVOKED', 'logged in'])
    // Node B hears the kick through its inbox, a moment after A answered.
    await waitFor('every device on node B kicked', () =>
      racers.every((socket, i) => logins[i]?.type !== 'reply' || socket.events.includes('kickedOffline')),
    )
    assert.equal(await sessionsOn(b), 0, 'no device of the account is left on node B')
    for (const socket of racers) socket.close()
  })
})

describe('kicks for the devices on other nodes', { skip: redis.skip }, () => {
  it('a revoke whose kick cannot reach Redis rejects with CLUSTER_UNAVAILABLE; a kick for a login elsewhere does not', async () => {
    const hop = await redisHop(new URL(redis.url))
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const presence = memoryPresence({ lifetimeMs: 60_000 })
    await presence.claim('app', 'bob', 'phone', 'node-b', undefined)
    const delivery = new ClusterDelivery({
      link: scope.open({ url: hop.url, commandTimeoutMs: 300 }),
      nodeId: 'node-a',
      registry: new SessionRegistry(),
      presence,
      log: pino({ level: 'silent' }),
    })
    try {
      await delivery.revokeElsewhere('app', 'bob')
      await hop.cut()
      await assert.rejects(
        delivery.revokeElsewhere('app', 'bob'),
        (error) => error instanceof RingKitError && error.code === 'CLUSTER_UNAVAILABLE',
      )
      await delivery.kickElsewhere('app', 'bob', 'otherLogin')
    } finally {
      await hop.cut()
      await delivery.close()
    }
  })
})
