import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CallRecord, DeviceRef } from '@ringkit/protocol'
import { clusterNode, nodeAlive, startNodeHeartbeat, type NodeHeartbeat } from '../src/bus/nodes.ts'
import { redisCallStateStore } from '../src/bus/redis-call-state.ts'
import { redisPresence } from '../src/bus/redis-presence.ts'
import type { RedisLink } from '../src/bus/redis.ts'
import { CallEngine } from '../src/calls/CallEngine.ts'
import type { CallState } from '../src/calls/types.ts'
import type { Presence } from '../src/signal/presence.ts'
import { openPostgresStore } from '../src/store/postgres.ts'
import type { Store } from '../src/store/types.ts'
import { APP, fakeDelivery } from './engine-support.ts'
import { skipUnless, testPostgres } from './postgres.ts'
import { redisScope, testRedis, type RedisScope } from './redis.ts'
import { waitFor } from './support.ts'

/**
 * Nodes of one cluster as engines: each with its own Redis connection, heartbeat and presence,
 * all on one PostgreSQL schema. A node "dies" as kill -9 leaves it: no timer of it runs again,
 * its heartbeat stops, and its key in Redis lapses by itself.
 */

const CALLER = 'f-alice'
const CALLEE = 'f-bob'
const caller: DeviceRef = { accid: CALLER, deviceId: 'a1' }
const callee: DeviceRef = { accid: CALLEE, deviceId: 'b1' }
/** Longer than a test: a device's slot lapses only when the test says so. */
const PRESENCE_MS = 120_000

const pgTarget = await testPostgres()
const redis = await testRedis()
after(() => ('skip' in pgTarget ? undefined : pgTarget.dropSchemas()))

interface Node {
  /** Its connection, open still after it dies: the test reads Redis through it. */
  link: RedisLink
  engine: CallEngine
  presence: Presence
  ended: CallState[]
  /** As kill -9: nothing of this node runs again. */
  kill(): void
}

function startNode(scope: RedisScope, store: Store, nodeId: string): Node {
  const link = scope.open()
  const presence = redisPresence(link, { lifetimeMs: PRESENCE_MS })
  const heartbeat: NodeHeartbeat = startNodeHeartbeat(
    link,
    nodeId,
    async () => {},
    () => {},
  )
  const ended: CallState[] = []
  const engine = new CallEngine({
    store,
    calls: redisCallStateStore(link),
    delivery: fakeDelivery([caller, callee]).delivery,
    cluster: clusterNode(link, nodeId, presence),
    onEnded: (s) => void ended.push(s),
  })
  return {
    link,
    engine,
    presence,
    ended,
    kill() {
      heartbeat.stop()
      engine.close()
    },
  }
}

async function recordOf(store: Store, callId: string, withinMs: number): Promise<CallRecord> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const record = await store.getRecord(APP, callId)
    if (record) return record
    if (Date.now() > deadline) throw new Error(`no record of ${callId} within ${withinMs} ms`)
    await sleep(50)
  }
}

async function timesListed(store: Store, accid: string, callId: string): Promise<number> {
  const { records } = await store.listRecords(APP, accid, { limit: 100 })
  return records.filter((r) => r.callId === callId).length
}

async function ownerOf(store: Store, callId: string): Promise<string | undefined> {
  return (await store.listJournal()).find((j) => j.state.callId === callId)?.owner
}

describe('a node that dies', { skip: redis.skip || skipUnless(pgTarget).skip }, () => {
  if ('skip' in pgTarget) return
  let scope: RedisScope
  let store: Store
  const nodes: Node[] = []
  const node = (id: string) => {
    const n = startNode(scope, store, id)
    nodes.push(n)
    return n
  }

  const setUp = async () => {
    scope = redisScope(redis.url)
    store = await openPostgresStore({ url: pgTarget.url, schema: pgTarget.schema() })
    await store.putApp({ appKey: APP, appSecret: 's', name: 'failover', multiDevice: true, createdAt: 0 })
    for (const accid of [CALLER, CALLEE]) await store.createAccount(APP, { accid }, 0)
  }
  const tearDown = async () => {
    for (const n of nodes.splice(0)) n.kill()
    await store.close()
    await scope.drop()
  }

  it('leaves its ringing call to time out on another node by its deadline, with one record of status 4', async () => {
    await setUp()
    try {
      const a = node('fa')
      const b = node('fb')
      const { callId } = await a.engine.start(APP, caller, { to: [CALLEE], callType: 'audio', timeoutMs: 1000 })
      const dueAt = (await a.engine.get(callId))!.expiresAt
      a.kill()
      const record = await recordOf(store, callId, 10_000)
      const late = Date.now() - dueAt
      assert.equal(record.status, 4)
      assert.ok(late <= 5000, `timed out ${late} ms after its deadline`)
      assert.ok(record.endedAt >= dueAt, 'not before its deadline')
      // The node tells of the end once it has freed the call's accounts, a moment after the record.
      await waitFor('the live node ending it', () => b.ended.length > 0, 2000)
      assert.deepEqual(
        b.ended.map((s) => s.phase === 'ended' && s.reason),
        ['timeout'],
        'the live node ended it',
      )
      assert.equal(await timesListed(store, CALLER, callId), 1)
      assert.equal(await timesListed(store, CALLEE, callId), 1)
      assert.equal(await b.engine.get(callId), undefined)
    } finally {
      await tearDown()
    }
  })

  it('keeps its call in progress while its lease lives, then another node adopts it and ends it once, on a hangup', async () => {
    await setUp()
    try {
      const a = node('fa')
      const { callId } = await a.engine.start(APP, caller, { to: [CALLEE], callType: 'audio', timeoutMs: 30_000 })
      await a.engine.act(APP, callId, { kind: 'accept', by: callee })
      for (const d of [caller, callee]) await a.presence.claim(APP, d.accid, d.deviceId, 'fa', undefined)
      a.kill()
      // A node starting while the other's lease lives: what it finds in the journal is not its own.
      const b = node('fb')
      assert.equal(await b.engine.recover(), 0, 'nothing taken while the lease lives')
      assert.equal((await b.engine.get(callId))?.phase, 'active')
      assert.equal(await ownerOf(store, callId), 'fa')

      const deadline = Date.now() + 10_000
      while (await nodeAlive(a.link, 'fa')) {
        assert.ok(Date.now() < deadline, 'the lease lapses')
        await sleep(100)
      }
      // Its periodic look, or this one: exactly one of them takes the call.
      const adopted = Date.now() + 5000
      while ((await ownerOf(store, callId)) !== 'fb') {
        await b.engine.recover()
        assert.ok(Date.now() < adopted, 'adopted within a look or two')
        await sleep(100)
      }
      assert.equal((await b.engine.get(callId))?.phase, 'active', 'adopted, not ended')
      assert.equal(await store.getRecord(APP, callId), undefined)
      await sleep(2500)
      assert.equal((await b.engine.get(callId))?.phase, 'active', 'its devices are present: it goes on')

      await b.engine.act(APP, callId, { kind: 'hangup', by: caller })
      const record = await recordOf(store, callId, 1000)
      assert.equal(record.status, 1)
      assert.equal(await timesListed(store, CALLER, callId), 1)
      assert.deepEqual(await store.listJournal(), [])
    } finally {
      await tearDown()
    }
  })

  it('ends a call it adopted once a party has no device left anywhere, with one record', async () => {
    await setUp()
    try {
      const a = node('fa')
      const { callId } = await a.engine.start(APP, caller, { to: [CALLEE], callType: 'video', timeoutMs: 30_000 })
      await a.engine.act(APP, callId, { kind: 'accept', by: callee })
      for (const d of [caller, callee]) await a.presence.claim(APP, d.accid, d.deviceId, 'fa', undefined)
      a.kill()
      const deadline = Date.now() + 10_000
      while (await nodeAlive(a.link, 'fa')) {
        assert.ok(Date.now() < deadline, 'the lease lapses')
        await sleep(100)
      }
      const b = node('fb')
      assert.equal(await b.engine.recover(), 1)
      assert.equal((await b.engine.get(callId))?.phase, 'active')
      // The callee's device resumed nowhere: its slot goes as a lapsed one does.
      await b.presence.release(APP, CALLEE, 'b1', 'fa')
      const record = await recordOf(store, callId, 6000)
      // The engine frees the call's accounts in Redis after the record, then says it ended.
      await waitFor('node B saying it ended', () => b.ended.length > 0, 2000)
      assert.deepEqual(
        b.ended.map((s) => s.phase === 'ended' && s.reason),
        ['disconnected'],
      )
      assert.equal(record.status, 1, 'it was a call: it connected')
      assert.equal(await timesListed(store, CALLEE, callId), 1)
      assert.deepEqual(await store.listJournal(), [])
    } finally {
      await tearDown()
    }
  })
})
