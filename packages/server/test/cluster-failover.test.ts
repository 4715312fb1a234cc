import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CallRecord } from '@ringkit/protocol'
import { nodeAlive } from '../src/bus/nodes.ts'
import type { Store } from '../src/store/types.ts'
import { skipUnless, testPostgres } from './postgres.ts'
import { RawSocket } from './raw-socket.ts'
import { redisScope, testRedis } from './redis.ts'
import { rest, startTestServer, type ServerTarget, type TestServer } from './support.ts'
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

const ownerOf = async (store: Store, callId: string) =>
  (await store.listJournal()).find((j) => j.state.callId === callId)?.owner

async function callOf(socket: RawSocket, to: string, timeoutMs?: number): Promise<string> {
  const answer = await socket.request('call', { to: [to], callType: 'audio', ...(timeoutMs ? { timeoutMs } : {}) })
  assert.equal(answer.type, 'reply', JSON.stringify(answer.error))
  return String(answer.result?.callId)
}

describe('a node killed with SIGKILL', { skip: redis.skip || skipUnless(pgTarget).skip }, () => {
  if ('skip' in pgTarget) return

  it('leaves its calls to the live node: none ended while its lease lives, its ringing call times out on time, its call in progress is adopted and ends once', async () => {
    const scope = redisScope(redis.url)
    const schema = pgTarget.schema()
    const app = {
      appKey: 'failover-app',
      appSecret: randomBytes(24).toString('hex'),
      name: 'default',
      multiDevice: true,
      createdAt: 0,
    }
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
})
