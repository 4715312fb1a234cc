import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { runCli, servingUrl } from './cli-process.ts'
import {
  rest,
  startTestServer,
  testDataDir,
  TestDevice,
  waitFor,
  type ServerTarget,
  type TestServer,
} from './support.ts'
import { webhookReceiver, type WebhookReceiver } from './webhook-receiver.ts'
import { testPostgres } from './postgres.ts'
import { redisScope, testRedis } from './redis.ts'
import type { VerifiedWebhook } from '../src/index.ts'

let server: TestServer
let receiver: WebhookReceiver
let n = 0
const fresh = (name: string) => `${name}${++n}`

before(async () => {
  receiver = await webhookReceiver()
  server = await startTestServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
  await receiver.close()
})

/** Registers an endpoint at a path of the receiver of its own; returns its id, path and secret. */
async function register(target: ServerTarget, events?: string[]) {
  const path = `/hook/${fresh('ep')}`
  const res = await target.rest('POST', '/v1/webhooks', { url: receiver.base + path, ...(events ? { events } : {}) })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  assert.match(res.body.secret, /^whsec_/)
  return { id: res.body.id as string, path, secret: res.body.secret as string }
}

type Hook = Awaited<ReturnType<typeof register>>
type Event = VerifiedWebhook & { at: number }

/** The events of `callId` that reached `hook`, in arrival order, once `done` holds of them. */
async function eventsOf(hook: Hook, callId: string, done: (events: Event[]) => boolean, timeoutMs = 10_000) {
  const of = () => receiver.verified(hook.path, hook.secret).filter((e) => e.data.callId === callId)
  await waitFor(`webhook events of ${callId}`, () => done(of()), timeoutMs).catch((error: unknown) => {
    throw new Error(`${String(error)}; got ${of().map((e) => e.type)}`)
  })
  return of()
}
const endedWith = (events: Event[]) => events.some((e) => e.type === 'call.ended')

/** Delivered in order, numbered 1, 2, 3… with one webhook-id each. */
function assertInOrder(events: Event[]) {
  assert.deepEqual(
    events.map((e) => e.data.seq),
    events.map((_, i) => i + 1),
  )
  assert.equal(new Set(events.map((e) => e.id)).size, events.length)
}

describe('webhooks: every event of a call, signed, in order', () => {
  it('an answered 1:1 call sends call.ringing, call.accepted and call.ended with the record', async () => {
    const hook = await register(server)
    const alice = await TestDevice.online(server, fresh('alice'))
    const bob = await TestDevice.online(server, fresh('bob'))
    const call = await alice.kit.call({ to: bob.accid, type: 'video' })
    await (await bob.next('invited')).call.accept()
    await alice.next('userAccept')
    await call.hangup()
    const record = await alice.next('record')
    const events = await eventsOf(hook, call.callId, endedWith)
    assert.deepEqual(
      events.map((e) => e.type),
      ['call.ringing', 'call.accepted', 'call.ended'],
    )
    assertInOrder(events)
    const [ringing, accepted, ended] = events
    assert.equal(ringing!.data.caller, alice.accid)
    assert.deepEqual(ringing!.data.callees, [bob.accid])
    assert.deepEqual(ringing!.data.offlineCallees, [])
    assert.equal(accepted!.data.accid, bob.accid)
    assert.deepEqual(ended!.data.record, record)
    assert.ok(!Number.isNaN(Date.parse(ended!.timestamp)))
  })

  it('a declined, a canceled, a missed and a busy call each say how they ended before call.ended', async () => {
    const hook = await register(server)
    const outcomes: Array<[string, string]> = []
    {
      const [a, b] = await Promise.all([TestDevice.online(server, fresh('a')), TestDevice.online(server, fresh('b'))])
      const call = await a.kit.call({ to: b.accid, type: 'audio' })
      await (await b.next('invited')).call.reject()
      outcomes.push([call.callId, 'call.rejected'])
    }
    {
      const [a, b] = await Promise.all([TestDevice.online(server, fresh('a')), TestDevice.online(server, fresh('b'))])
      const call = await a.kit.call({ to: b.accid, type: 'audio' })
      await b.next('invited')
      await call.cancel()
      outcomes.push([call.callId, 'call.canceled'])
    }
    {
      const [a, b] = await Promise.all([TestDevice.online(server, fresh('a')), TestDevice.online(server, fresh('b'))])
      const call = await a.kit.call({ to: b.accid, type: 'audio', timeoutMs: 1000 })
      await a.next('record', undefined, 8000)
      outcomes.push([call.callId, 'call.missed'])
    }
    {
      const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (x) => TestDevice.online(server, fresh(x))))
      const first = await a!.kit.call({ to: b!.accid, type: 'audio' })
      await b!.next('invited')
      const second = await c!.kit.call({ to: b!.accid, type: 'audio' })
      await c!.next('record')
      await first.cancel()
      outcomes.push([second.callId, 'call.busy'])
    }
    for (const [callId, outcome] of outcomes) {
      const events = await eventsOf(hook, callId, endedWith)
      assert.deepEqual(
        events.map((e) => e.type),
        ['call.ringing', outcome, 'call.ended'],
        outcome,
      )
      assertInOrder(events)
    }
  })

  it('a group call tells of each member answering, declining, joining and leaving', async () => {
    const hook = await register(server)
    const [ann, bob, cat, dan] = await Promise.all(
      ['ann', 'bob', 'cat', 'dan'].map(async (x) => TestDevice.online(server, fresh(x))),
    )
    const call = await ann!.kit.groupCall({ to: [bob!.accid, cat!.accid, dan!.accid], type: 'audio' })
    const bobCall = (await bob!.next('invited')).call
    await bobCall.accept()
    await ann!.next('userAccept', (e) => e.accid === bob!.accid)
    await (await cat!.next('invited')).call.accept()
    await ann!.next('userAccept', (e) => e.accid === cat!.accid)
    await (await dan!.next('invited')).call.reject()
    await ann!.next('userReject', (e) => e.accid === dan!.accid)
    await bobCall.leave()
    await ann!.next('userLeave', (e) => e.accid === bob!.accid)
    await call.hangup()
    await ann!.next('record')
    const events = await eventsOf(hook, call.callId, endedWith)
    assertInOrder(events)
    const told = events.map((e) => `${e.type}${typeof e.data.accid === 'string' ? ` ${e.data.accid}` : ''}`)
    assert.deepEqual(told, [
      'call.ringing',
      `call.accepted ${bob!.accid}`,
      `call.member.joined ${bob!.accid}`,
      `call.accepted ${cat!.accid}`,
      `call.member.joined ${cat!.accid}`,
      `call.rejected ${dan!.accid}`,
      `call.member.left ${bob!.accid}`,
      // The caller hanging up ends the call: Cat, still in it, leaves with it.
      `call.member.left ${cat!.accid}`,
      'call.ended',
    ])
    assert.deepEqual(events[0]!.data.callees, [bob!.accid, cat!.accid, dan!.accid])
  })

  it('a group call the caller gives up on tells of each member it rang as canceled, before call.ended', async () => {
    const hook = await register(server)
    const [ann, bob, cat] = await Promise.all(
      ['ann', 'bob', 'cat'].map(async (x) => TestDevice.online(server, fresh(x))),
    )
    const call = await ann!.kit.groupCall({ to: [bob!.accid, cat!.accid], type: 'audio' })
    await bob!.next('invited')
    await cat!.next('invited')
    await call.hangup()
    const events = await eventsOf(hook, call.callId, endedWith)
    assertInOrder(events)
    assert.deepEqual(
      events.map((e) => `${e.type}${typeof e.data.accid === 'string' ? ` ${e.data.accid}` : ''}`),
      ['call.ringing', `call.canceled ${bob!.accid}`, `call.canceled ${cat!.accid}`, 'call.ended'],
    )
  })

  it('a callee with no device online rings when the backend takes call.ringing, and is named offline', async () => {
    const hook = await register(server, ['call.ringing', 'call.ended'])
    const alice = await TestDevice.online(server, fresh('alice'))
    const away = fresh('away')
    await server.rest('POST', '/v1/accounts', { accid: away })
    const call = await alice.kit.call({ to: away, type: 'audio' })
    const [ringing] = await eventsOf(hook, call.callId, (e) => e.length >= 1)
    assert.equal(ringing!.type, 'call.ringing')
    assert.deepEqual(ringing!.data.offlineCallees, [away])
    await call.cancel()
    // Only the types asked for: no call.canceled.
    const events = await eventsOf(hook, call.callId, endedWith)
    assert.deepEqual(
      events.map((e) => e.type),
      ['call.ringing', 'call.ended'],
    )
  })

  it('a signature made with another secret, or over another body, does not verify', async () => {
    const hook = await register(server)
    const [a, b] = await Promise.all([TestDevice.online(server, fresh('a')), TestDevice.online(server, fresh('b'))])
    const call = await a.kit.call({ to: b.accid, type: 'audio' })
    await b.next('invited')
    await call.cancel()
    await eventsOf(hook, call.callId, endedWith)
    const got = receiver.received.find((r) => r.path === hook.path)!
    const { verifyWebhook } = await import('../src/index.ts')
    assert.throws(() => verifyWebhook(`whsec_${randomBytes(24).toString('base64')}`, got.headers, got.body))
    assert.throws(() => verifyWebhook(hook.secret, got.headers, got.body.replace('"seq":1', '"seq":2')))
    assert.throws(() => verifyWebhook(hook.secret, got.headers, got.body, Math.floor(Date.now() / 1000) + 600))
    assert.equal(verifyWebhook(hook.secret, got.headers, got.body).id, got.headers['webhook-id'])
  })
})

describe('webhooks: endpoints that fail', () => {
  it('a 500 answer is retried under the same webhook-id, and the deliveries list shows both attempts', async () => {
    const hook = await register(server, ['call.ended'])
    const failedOnce = new Set<string>()
    receiver.answer((r) => {
      const id = String(r.headers['webhook-id'])
      if (r.path !== hook.path || failedOnce.has(id)) return { status: 200 }
      failedOnce.add(id)
      return { status: 500 }
    })
    const [a, b] = await Promise.all([TestDevice.online(server, fresh('a')), TestDevice.online(server, fresh('b'))])
    const call = await a.kit.call({ to: b.accid, type: 'audio' })
    await b.next('invited')
    await call.cancel()
    const events = await eventsOf(hook, call.callId, (e) => e.length >= 2, 15_000)
    assert.equal(events[0]!.id, events[1]!.id, 'the retry carries the same webhook-id')
    assert.ok(events[1]!.at - events[0]!.at < 10_000, 'the first retry comes within 10 s')
    const { body } = await server.rest('GET', `/v1/webhooks/${hook.id}/deliveries`)
    assert.deepEqual(
      body.deliveries.map((d: { attempt: number; status: number; eventId: string }) => [
        d.attempt,
        d.status,
        d.eventId,
      ]),
      [
        [2, 200, events[0]!.id],
        [1, 500, events[0]!.id],
      ],
    )
    receiver.answer(() => ({ status: 200 }))
  })

  it('a 410 answer disables the endpoint; a redelivery enables it again and sends the same event', async () => {
    const hook = await register(server, ['call.ended'])
    receiver.answer((r) => (r.path === hook.path ? { status: 410 } : { status: 200 }))
    const [a, b] = await Promise.all([TestDevice.online(server, fresh('a')), TestDevice.online(server, fresh('b'))])
    const call = await a.kit.call({ to: b.accid, type: 'audio' })
    await b.next('invited')
    await call.cancel()
    const [gone] = await eventsOf(hook, call.callId, (e) => e.length >= 1)
    const listed = async () =>
      (await server.rest('GET', '/v1/webhooks')).body.webhooks.find((w: { id: string }) => w.id === hook.id)
    const deadline = Date.now() + 5000
    while (!(await listed()).disabled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.equal((await listed()).disabled, true)
    // Nothing more goes to it.
    const later = await a.kit.call({ to: b.accid, type: 'audio' })
    await b.next('invited', (e) => e.call.callId === later.callId)
    await later.cancel()
    await a.next('record', (r) => r.callId === later.callId)
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(receiver.received.filter((r) => r.path === hook.path).length, 1)
    receiver.answer(() => ({ status: 200 }))
    const again = await server.rest('POST', `/v1/webhooks/${hook.id}/redeliver`, { eventId: gone!.id })
    assert.equal(again.status, 202)
    const events = await eventsOf(hook, call.callId, (e) => e.length >= 2)
    assert.equal(events[1]!.id, gone!.id)
    assert.equal((await listed()).disabled, false)
    const unknown = await server.rest('POST', `/v1/webhooks/${hook.id}/redeliver`, { eventId: 'msg_nope' })
    assert.equal(unknown.body.error.code, 'EVENT_NOT_FOUND')
  })

  it('an endpoint that never answers is retried after the attempt deadline', async () => {
    const target = await startTestServer({ webhooks: { attemptTimeoutMs: 500 } })
    try {
      const path = `/hook/${fresh('slow')}`
      const made = await target.rest('POST', '/v1/webhooks', { url: receiver.base + path, events: ['call.ended'] })
      let calls = 0
      receiver.answer((r) => (r.path === path && ++calls === 1 ? 'hang' : { status: 200 }))
      const [a, b] = await Promise.all([TestDevice.online(target, fresh('a')), TestDevice.online(target, fresh('b'))])
      const call = await a.kit.call({ to: b.accid, type: 'audio' })
      await b.next('invited')
      await call.cancel()
      const hook = { id: made.body.id as string, path, secret: made.body.secret as string }
      const events = await eventsOf(hook, call.callId, (e) => e.length >= 2, 15_000)
      assert.equal(events[0]!.id, events[1]!.id)
      const { body } = await target.rest('GET', `/v1/webhooks/${hook.id}/deliveries`)
      assert.match(body.deliveries.at(-1).error, /no answer in 500 ms/)
      assert.equal(body.deliveries.at(-1).status, 0)
    } finally {
      receiver.answer(() => ({ status: 200 }))
      await target.close()
    }
  })
})

describe('webhooks: the REST surface', () => {
  it('registers, lists and removes endpoints, and refuses what is not an http(s) URL or past the cap', async () => {
    const target = await startTestServer()
    try {
      const bad = await target.rest('POST', '/v1/webhooks', { url: 'ftp://example.com/hook' })
      assert.equal(bad.body.error.code, 'WEBHOOK_URL_REFUSED')
      const unknownType = await target.rest('POST', '/v1/webhooks', { url: receiver.base, events: ['call.nope'] })
      assert.equal(unknownType.body.error.code, 'INVALID_PARAMS')
      const ids: string[] = []
      for (let i = 0; i < 16; i++) ids.push((await target.rest('POST', '/v1/webhooks', { url: receiver.base })).body.id)
      const over = await target.rest('POST', '/v1/webhooks', { url: receiver.base })
      assert.equal(over.status, 409)
      assert.equal(over.body.error.code, 'TOO_MANY_WEBHOOKS')
      const listed = await target.rest('GET', '/v1/webhooks')
      // Oldest first; those made in one millisecond, in any order.
      assert.deepEqual(listed.body.webhooks.map((w: { id: string }) => w.id).sort(), [...ids].sort())
      assert.equal((await target.rest('DELETE', `/v1/webhooks/${ids[0]}`)).status, 200)
      const gone = await target.rest('DELETE', `/v1/webhooks/${ids[0]}`)
      assert.equal(gone.status, 404)
      assert.equal(gone.body.error.code, 'WEBHOOK_NOT_FOUND')
      assert.equal((await target.rest('GET', `/v1/webhooks/${ids[0]}/deliveries`)).status, 404)
      // Another app sees none of them.
      const other = await target.createApp({ name: 'other' })
      assert.deepEqual((await rest(target.url, other)('GET', '/v1/webhooks')).body.webhooks, [])
    } finally {
      await target.close()
    }
  })

  it('with denyPrivate, an endpoint on loopback is refused', async () => {
    const target = await startTestServer({ webhooks: { denyPrivate: true } })
    try {
      for (const url of [receiver.base, 'http://localhost:9/x', 'http://[::1]/x', 'http://10.1.2.3/x']) {
        const res = await target.rest('POST', '/v1/webhooks', { url })
        assert.equal(res.body.error?.code, 'WEBHOOK_URL_REFUSED', url)
      }
    } finally {
      await target.close()
    }
  })
})

describe('webhooks: a crash between the record and its delivery', () => {
  const children = new Set<ChildProcess>()
  after(() => {
    for (const child of children) child.kill('SIGKILL')
  })

  it('kill -9 after the record, before call.ended was delivered: the restarted server delivers it', async () => {
    const dataDir = testDataDir()
    const app = { appKey: 'webhook-crash', appSecret: randomBytes(24).toString('hex') }
    const env = { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret }
    const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--no-demo']
    const first = runCli(args, env, children)
    const url = await servingUrl(first)
    const target: ServerTarget = {
      url,
      app: { ...app, name: 'default', multiDevice: true, createdAt: 0 },
      rest: rest(url, app),
    }
    const path = `/hook/${fresh('crash')}`
    const made = await target.rest('POST', '/v1/webhooks', { url: receiver.base + path, events: ['call.ended'] })
    const hook = { id: made.body.id as string, path, secret: made.body.secret as string }
    // The first attempt never gets an answer: the process dies with the event undelivered.
    receiver.answer((r) => (r.path === path ? 'hang' : { status: 200 }))
    const [a, b] = await Promise.all([TestDevice.online(target, fresh('a')), TestDevice.online(target, fresh('b'))])
    const call = await a.kit.call({ to: b.accid, type: 'audio' })
    await b.next('invited')
    await call.cancel()
    const record = await a.next('record')
    await eventsOf(hook, call.callId, (e) => e.length >= 1)
    first.child.kill('SIGKILL')
    await first.exited
    await TestDevice.closeAll()
    receiver.answer(() => ({ status: 200 }))
    const second = runCli(args, env, children)
    try {
      await servingUrl(second)
      // Its lease from the dead run runs out (15 s), then the restarted server makes the attempt again.
      const events = await eventsOf(hook, call.callId, (e) => e.length >= 2, 30_000)
      assert.equal(events[1]!.id, events[0]!.id)
      assert.deepEqual(events[1]!.data.record, record)
    } finally {
      second.child.kill('SIGTERM')
      await second.exited
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

const redis = await testRedis()
const postgres = await testPostgres()
const clusterSkip = redis.skip || ('skip' in postgres ? postgres.skip : false)

describe('webhooks: two nodes (PostgreSQL, Redis)', { skip: clusterSkip }, () => {
  it('each event is delivered once per attempt, whichever node makes it, in order per call', async () => {
    if ('skip' in postgres) throw new Error('unreachable: skipped')
    const scope = redisScope(redis.url)
    const shared = { postgres: { url: postgres.url, schema: postgres.schema() } }
    const nodes: TestServer[] = []
    try {
      for (const nodeId of ['hook-a', 'hook-b']) {
        nodes.push(await startTestServer({ ...shared, redis: { url: redis.url, prefix: scope.prefix }, nodeId }))
      }
      const [a, b] = nodes as [TestServer, TestServer]
      const hook = await register(a)
      // Devices on both nodes: calls start, ring and end on either, and both nodes deliver.
      const calls: string[] = []
      await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const caller = await TestDevice.online(i % 2 ? a : b, fresh('x'))
          const callee = await TestDevice.online(i % 2 ? b : a, fresh('y'))
          const call = await caller.kit.call({ to: callee.accid, type: 'audio' })
          calls.push(call.callId)
          await (await callee.next('invited')).call.accept()
          await caller.next('userAccept')
          await call.hangup()
          await caller.next('record')
        }),
      )
      for (const callId of calls) {
        const events = await eventsOf(hook, callId, endedWith)
        assert.deepEqual(
          events.map((e) => e.type),
          ['call.ringing', 'call.accepted', 'call.ended'],
        )
        assertInOrder(events)
      }
      // An attempt is kept once its answer came back: a moment after the receiver saw it.
      let deliveries: Array<{ attempt: number; status: number }> = []
      for (const deadline = Date.now() + 5000; deliveries.length < calls.length * 3 && Date.now() < deadline;) {
        deliveries = (await a.rest('GET', `/v1/webhooks/${hook.id}/deliveries?limit=100`)).body.deliveries
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.equal(deliveries.length, calls.length * 3, 'one attempt per event')
      assert.ok(deliveries.every((d) => d.attempt === 1 && d.status === 200))
      assert.equal(receiver.received.filter((r) => r.path === hook.path).length, calls.length * 3)
    } finally {
      await TestDevice.closeAll()
      await Promise.all(nodes.map(async (node) => node.close()))
      await scope.drop()
      await postgres.dropSchemas()
    }
  })
})
