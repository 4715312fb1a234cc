import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import { nodeAlive } from '../src/bus/nodes.ts'
import type { Store } from '../src/store/types.ts'
import { skipUnless, testPostgres } from './postgres.ts'
import { RawSocket, type Frame } from './raw-socket.ts'
import { redisScope, testRedis } from './redis.ts'
import { rest, startTestServer, tokenFor, type ServerTarget, type TestServer } from './support.ts'
import { runCli, servingUrl } from './cli-process.ts'

/**
 * Two nodes of one cluster on the real PostgreSQL and Redis: node A is a `ringkit serve` process,
 * killed with SIGKILL as a crash would; node B is started (and restarted) beside it.
 */

const pgTarget = await testPostgres()
const redis = await testRedis()
const children = new Set<ChildProcess>()
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')))
after(async () => {
  for (const child of children) child.kill('SIGKILL')
  if (!('skip' in pgTarget)) await pgTarget.dropSchemas()
})

/** `ringkit serve` as one node of the cluster, once it prints its URL. */
async function serveNode(args: string[], env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const node = runCli(['serve', ...args], env, children)
  return { url: await servingUrl(node), child: node.child }
}

async function until<T>(what: string, withinMs: number, read: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs} ms`)
    await sleep(100)
  }
}

const seqOf = (frame: Frame) => Number((frame as { seq?: number }).seq ?? 0)

const ownerOf = async (store: Store, callId: string) =>
  (await store.listJournal()).find((j) => j.state.callId === callId)?.owner

async function callOf(socket: RawSocket, to: string, timeoutMs?: number): Promise<string> {
  const answer = await socket.request('call', { to: [to], callType: 'audio', ...(timeoutMs ? { timeoutMs } : {}) })
  assert.equal(answer.type, 'reply', JSON.stringify(answer.error))
  return String(answer.result?.callId)
}

describe('a node killed with SIGKILL', { skip: redis.skip || skipUnless(pgTarget).skip }, () => {
  if ('skip' in pgTarget) return

  /** Node A as a process to kill, on a schema and prefix of its own; node B is started by the test. */
  async function clusterOfTwo(appKey: string) {
    if ('skip' in pgTarget) throw new Error(pgTarget.skip)
    const scope = redisScope(redis.url)
    const schema = pgTarget.schema()
    const app = { appKey, appSecret: randomBytes(24).toString('hex'), name: 'default', multiDevice: true, createdAt: 0 }
    const nodeA = await serveNode(
      [
        ...['--port', '0', '--host', '127.0.0.1', '--no-demo', '--node-id', 'node-a'],
        ...['--postgres', pgTarget.url, '--schema', schema, '--redis', redis.url, '--redis-prefix', scope.prefix],
      ],
      { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret },
    )
    const onA: ServerTarget = { url: nodeA.url, app, rest: rest(nodeA.url, app) }
    const startB = () =>
      startTestServer({
        postgres: { url: pgTarget.url, schema },
        redis: { url: redis.url, prefix: scope.prefix },
        nodeId: 'node-b',
        appKey: app.appKey,
        appSecret: app.appSecret,
      })
    return { app, scope, nodeA, onA, startB }
  }

  it('leaves its calls to the live node: none ended while its lease lives, its ringing call times out on time, its call in progress is adopted and ends once', async () => {
    const { app, scope, nodeA, onA, startB } = await clusterOfTwo('failover-app')
    const sockets: RawSocket[] = []
    let b: TestServer | undefined
    try {
      const [alice, bob, carol, dave] = await Promise.all(
        ['alice', 'bob', 'carol', 'dave'].map((accid) => RawSocket.login(onA, accid, `${accid}-1`)),
      )
      sockets.push(alice!, bob!, carol!, dave!)
      const talk = await callOf(alice!, 'bob')
      assert.equal((await bob!.request('accept', { callId: talk })).type, 'reply')

      // Node B starts, and starts again, while A lives: A's call is not B's to end (livekit#4316).
      await (await startB()).close()
      b = await startB()
      assert.equal(await b.store.getRecord(app.appKey, talk), undefined)
      assert.equal(await ownerOf(b.store, talk), 'node-a')
      assert.ok(!alice!.events.includes('callEnd'), 'the caller heard no end')

      const ring = await callOf(carol!, 'dave', 2000)
      const invited = await until('dave is rung', 5000, async () =>
        dave!.frames.find((f) => f.name === 'invited' && f.data?.callId === ring),
      )
      const dueAt = Number(invited.data?.expiresAt)
      nodeA.child.kill('SIGKILL')

      const store = b.store
      const timedOut = await until<CallRecord>('the ringing call ends', 10_000, () => store.getRecord(app.appKey, ring))
      const late = Date.now() - dueAt
      assert.equal(timedOut.status, 4)
      assert.ok(late <= 5000, `timed out ${late} ms after its deadline`)

      const link = scope.open()
      await until('node A lapses', 10_000, async () => ((await nodeAlive(link, 'node-a')) ? undefined : true))
      await until('node B adopts the call', 6000, async () =>
        (await ownerOf(store, talk)) === 'node-b' ? true : undefined,
      )
      assert.equal(await store.getRecord(app.appKey, talk), undefined, 'adopted, not ended')

      // The caller's device logs in again on B. A new session holds no call (the SDK drops its
      // calls when it cannot resume), so the call it carried ends there, as a session ending would.
      const aliceOnB = await RawSocket.login(b, 'alice', 'alice-1')
      sockets.push(aliceOnB)
      const record = await until<CallRecord>('the call ends', 5000, () => store.getRecord(app.appKey, talk))
      assert.equal(record.status, 1)
      assert.equal(record.endReason, 'disconnected')
      for (const accid of ['alice', 'bob']) {
        const { records } = await store.listRecords(app.appKey, accid, { limit: 100 })
        assert.equal(records.filter((r) => r.callId === talk).length, 1, `${accid} has the call once`)
      }
      assert.deepEqual(await store.listJournal(), [], 'no call left journaled')
    } finally {
      for (const socket of sockets) socket.ws.terminate()
      nodeA.child.kill('SIGKILL')
      await b?.close()
      await scope.drop()
    }
  })

  for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
    const how = signal === 'SIGKILL' ? 'died' : 'stopped past its heartbeat, and woke up after,'
    it(`a device whose node ${how} resumes its session on the live node: what was sent to it meanwhile arrives once and in order, and its call goes on`, async () => {
      await resumeAfter(signal)
    })
  }

  async function resumeAfter(signal: 'SIGKILL' | 'SIGSTOP'): Promise<void> {
    const { app, scope, nodeA, onA, startB } = await clusterOfTwo(`resume-${signal.toLowerCase()}`)
    const sockets: RawSocket[] = []
    let b: TestServer | undefined
    const link = scope.open()
    try {
      b = await startB()
      const aliceOnA = await RawSocket.open(onA)
      sockets.push(aliceOnA)
      const login = await aliceOnA.request('login', {
        appKey: app.appKey,
        accid: 'alice',
        token: await tokenFor(onA, 'alice'),
        deviceId: 'alice-1',
      })
      assert.equal(login.type, 'reply', JSON.stringify(login.error))
      const bob = await RawSocket.login(b, 'bob', 'bob-1')
      const [carol, dave] = await Promise.all([
        RawSocket.login(b, 'carol', 'carol-1'),
        RawSocket.login(b, 'dave', 'dave-1'),
      ])
      sockets.push(bob, carol, dave)
      // Two calls over before the kill: one alice declined, one between others.
      const declined = await callOf(carol, 'alice')
      await aliceOnA.event('invited', (d) => d.callId === declined)
      assert.equal((await aliceOnA.request('reject', { callId: declined })).type, 'reply')
      await aliceOnA.event('record', (d) => d.callId === declined)
      const others = await callOf(dave, 'carol')
      await carol.event('invited', (d) => d.callId === others)
      assert.equal((await carol.request('reject', { callId: others })).type, 'reply')
      await dave.event('record', (d) => d.callId === others)
      // Bob's call, run by node B's engine; alice answers it on A.
      const talk = await callOf(bob, 'alice')
      await aliceOnA.event('invited', (d) => d.callId === talk)
      assert.equal((await aliceOnA.request('accept', { callId: talk })).type, 'reply')
      await bob.event('userAccept', (d) => d.callId === talk)
      const lastSeq = Math.max(...aliceOnA.frames.map(seqOf))

      nodeA.child.kill(signal)
      // A stopped node's socket stays open: alice's device gives up on it, as its heartbeat would.
      if (signal === 'SIGSTOP') aliceOnA.ws.terminate()
      await aliceOnA.closed
      // Sent while alice's node is dead: they wait in its inbox.
      for (const n of [1, 2, 3]) {
        const sent = await bob.request('signal', { callId: talk, data: { n } })
        assert.equal(sent.type, 'reply', JSON.stringify(sent.error))
      }

      const aliceOnB = await RawSocket.open(b)
      sockets.push(aliceOnB)
      const killedAt = Date.now()
      const resumed = await aliceOnB.request('login', {
        appKey: app.appKey,
        accid: 'alice',
        token: await tokenFor(b, 'alice'),
        deviceId: 'alice-1',
        // The calls alice's device names as held: its end of a call that is over comes again
        // (as it would to a device that never heard it), a call of others' stays unknown to it.
        resume: { sessionId: login.result?.sessionId, lastSeq, calls: [talk, declined, others] },
      })
      assert.equal(resumed.type, 'reply', JSON.stringify(resumed.error))
      assert.equal(resumed.result?.resumed, true, 'the session goes on')
      assert.ok(Date.now() - killedAt < 7000, 'answered once the dead node\u2019s heartbeat lapsed')
      await aliceOnB.event('signal', (d) => (d.data as { n?: number }).n === 3)
      const settled = await aliceOnB.next((f) => f.name === 'callEnd' && f.data?.callId === declined, 10_000)
      assert.equal(settled.data?.reason, 'rejected')
      await aliceOnB.event('record', (d) => d.callId === declined)
      if (signal === 'SIGSTOP') {
        // Node A wakes and reads the signals in its inbox: its copy of the session is fenced off,
        // and what it carries on to B was given to alice there already.
        nodeA.child.kill('SIGCONT')
        await until('node A beats again', 10_000, async () => ((await nodeAlive(link, 'node-a')) ? true : undefined))
        await sleep(2000)
      }
      const replayed = aliceOnB.frames.filter((f) => f.name === 'signal').map((f) => (f.data?.data as { n: number }).n)
      assert.deepEqual(replayed, [1, 2, 3], 'each once, in order')
      const seqs = aliceOnB.frames.map(seqOf).filter((seq) => seq > 0)
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => lastSeq + 1 + i),
        'numbered on from the last frame alice had, without a gap',
      )

      // The call goes on: alice's signal reaches bob, and bob's hangup ends it once, answered.
      assert.equal((await aliceOnB.request('signal', { callId: talk, data: { back: true } })).type, 'reply')
      await bob.event('signal', (d) => (d.data as { back?: boolean }).back === true)
      assert.equal((await bob.request('hangup', { callId: talk })).type, 'reply')
      const record = await aliceOnB.event('record', (d) => d.callId === talk)
      assert.equal(record.data?.status, RECORD_STATUS.completed)
      await sleep(500)
      const ends = aliceOnB.frames.filter((f) => f.name === 'callEnd').map((f) => f.data?.callId)
      assert.deepEqual(
        ends,
        [declined, talk],
        'the declined call ended for the device, the call once, others\u2019 not',
      )
      const { records } = await b.store.listRecords(app.appKey, 'alice', { limit: 100 })
      assert.equal(records.filter((r) => r.callId === talk).length, 1, 'one record')
    } finally {
      for (const socket of sockets) socket.ws.terminate()
      nodeA.child.kill('SIGKILL')
      await b?.close()
      await scope.drop()
    }
  }
})
