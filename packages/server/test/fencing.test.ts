import { after, afterEach, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { CallRecord } from '@ringkit/protocol'
import { NODE_HEARTBEAT_MS, NODE_TTL_MS } from '../src/bus/nodes.ts'
import { runCli, servingUrl } from './cli-process.ts'
import { testPostgres, type TestPostgres } from './postgres.ts'
import { RawSocket } from './raw-socket.ts'
import { redisScope, testRedis, type RedisScope } from './redis.ts'
import { until } from './memory-support.ts'
import { freeze } from './services.ts'
import { rest, testDataDir, type ServerTarget } from './support.ts'

/**
 * Two `ringkit serve` nodes racing on one call: node A, which wrote the call last, is paused with
 * SIGSTOP past its lease (as a long GC pause or a stalled VM would), node B takes the call over,
 * then A runs again with its timers and a request that waited in its socket. A's writes are fenced:
 * the call has one record, B's, and A changes nothing after it.
 */

const postgres = await testPostgres()
const redis = await testRedis()
const skip = 'skip' in postgres ? postgres.skip : redis.skip || undefined
const children = new Set<ChildProcess>()
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')))

/** Longer than a node's lease (`NODE_TTL_MS`, 5 s) and a look for calls to take over (2 s). */
const PAUSE_MS = 8000
/**
 * How long a stopped node's devices stay present, from its last beat: three beats and the resume
 * grace (15 s by default), then a look for lapsed devices (2 s); with some slack.
 */
const LAPSE_MS = 3 * NODE_HEARTBEAT_MS + 15_000 + 2000 + 5000

describe('fencing: a node paused past its lease cannot overwrite the node that took its call', { skip }, () => {
  const app = { appKey: 'fence-app', appSecret: randomBytes(24).toString('hex') }
  const dataDirs: string[] = []
  const sockets: RawSocket[] = []
  let scope: RedisScope
  let schema = ''
  let a: { child: ChildProcess; target: ServerTarget }
  let b: { child: ChildProcess; target: ServerTarget }
  let raw: Redis

  async function serve(nodeId: string) {
    const pg = postgres as TestPostgres
    const dataDir = testDataDir()
    dataDirs.push(dataDir)
    const run = runCli(
      [
        ...['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--no-demo'],
        ...['--postgres', pg.url, '--schema', schema, '--redis', redis.url, '--redis-prefix', scope.prefix],
      ],
      { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret, RINGKIT_NODE_ID: nodeId },
      children,
    )
    const url = await servingUrl(run)
    const target = { url, app: { ...app, name: 'default', multiDevice: true, createdAt: 0 }, rest: rest(url, app) }
    return { child: run.child, target }
  }

  const login = async (on: ServerTarget, accid: string) => {
    const socket = await RawSocket.login(on, accid, `${accid}-1`)
    sockets.push(socket)
    return socket
  }
  const query = (text: string, values?: unknown[]) => (postgres as TestPostgres).query(text, values)
  const recordOf = async (callId: string) =>
    (await query(`SELECT record FROM "${schema}".call_records WHERE call_id = $1`, [callId])).rows.map(
      (r: { record: CallRecord }) => r.record,
    )
  const ownerOf = async (callId: string) =>
    (await query(`SELECT node_id FROM "${schema}".call_journal WHERE call_id = $1`, [callId])).rows[0]?.node_id as
      string | undefined
  /** The call's hash in Redis: its version, and whether it still holds a live state. */
  const kept = async (callId: string) => {
    const [version, state] = await raw.hmget(`${scope.prefix}call:${callId}`, 'v', 's')
    return { version, live: state !== null }
  }

  /** After A ran again: the record is still B's alone, nothing journaled, nobody busy. */
  async function onlyB(callId: string, record: CallRecord, accounts: string[]): Promise<void> {
    // A's timers and the requests it read on waking have had time to run.
    await sleep(1500)
    assert.deepEqual(await recordOf(callId), [record], 'the one record is the one B wrote')
    assert.equal(await ownerOf(callId), undefined, 'A did not journal the call again')
    assert.equal((await kept(callId)).live, false, 'A did not bring the call back to life')
    for (const accid of accounts) {
      const holder = await raw.get(`${scope.prefix}busy:${app.appKey}:${accid}`)
      assert.ok(holder === null || !(await kept(holder)).live, `${accid} is not busy`)
    }
  }

  afterEach(() => {
    // A test that failed while A was stopped leaves it running for the next.
    a?.child.kill('SIGCONT')
  })

  before(async () => {
    scope = redisScope(redis.url)
    schema = (postgres as TestPostgres).schema()
    raw = new Redis(redis.url)
    // One after the other, so the schema is migrated once.
    a = await serve('node-a')
    b = await serve('node-b')
  })

  after(async () => {
    for (const socket of sockets) socket.ws.terminate()
    for (const child of children) {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
    }
    raw?.disconnect()
    await scope?.drop()
    if (!('skip' in postgres)) await postgres.dropSchemas()
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
  })

  it('a call in progress: B adopts it and ends it for the device A carried; the hangup A reads on waking writes nothing', async () => {
    const alice = await login(a.target, 'alice')
    const bob = await login(b.target, 'bob')
    const answer = await alice.request('call', { to: ['bob'], callType: 'audio' })
    const callId = String(answer.result?.callId)
    await bob.next((f) => f.name === 'invited' && f.data?.callId === callId)
    assert.equal((await bob.request('accept', { callId })).type, 'reply')
    // Alice's last act goes through A: A wrote the call last and keeps it.
    assert.equal((await alice.request('mediaState', { callId, audio: false })).type, 'reply')
    assert.equal(await ownerOf(callId), 'node-a')

    await freeze(a.child)
    const pausedAt = Date.now()
    // Alice hangs up while A is stopped: the frame waits in A's socket until A runs again.
    alice.send({ type: 'hangup', id: 'late-hangup', callId })
    // A's lease expires: B takes the call over, and keeps it while Alice may still resume elsewhere.
    await until('B adopts the call', async () => (await ownerOf(callId)) === 'node-b', PAUSE_MS)
    assert.deepEqual(await recordOf(callId), [], 'adopted, not ended, while Alice may resume')
    // Alice's device lapses a resume grace after A's last beat: B ends the call for her.
    await until('B ends the call', async () => (await recordOf(callId)).length > 0, LAPSE_MS)
    const [record] = (await recordOf(callId)) as [CallRecord]
    assert.equal(record.endReason, 'disconnected', 'ended by B for the device it lost with A, not by the hangup')
    assert.equal(record.status, 1)
    // A beat at most a heartbeat before it stopped; its lease lived a TTL after that beat.
    assert.ok(record.endedAt >= pausedAt + NODE_TTL_MS - NODE_HEARTBEAT_MS, 'not while A held its lease')
    const bobEnd = await bob.next((f) => f.name === 'callEnd' && f.data?.callId === callId)
    assert.equal(bobEnd.data?.reason, 'disconnected')
    const tombstone = await kept(callId)

    a.child.kill('SIGCONT')
    // Alice's session outlived her presence on A, which B counted gone: A moves her (close code
    // 4012), so that she logs in anew and learns the call is over rather than hearing nothing.
    assert.equal(await alice.closed, 4012)
    const late = alice.frames.find((f) => f.id === 'late-hangup')
    if (late) assert.equal(late.error?.code, 'CALL_NOT_FOUND', 'the hangup A read on waking found no call')
    await onlyB(callId, record, ['alice', 'bob'])
    assert.deepEqual(await kept(callId), tombstone, 'A wrote no version of the call after B')
  })

  it('a ringing call: B fires its deadline while A is stopped; the timer A runs on waking writes nothing', async () => {
    const carol = await login(a.target, 'carol')
    const dave = await login(b.target, 'dave')
    const answer = await carol.request('call', { to: ['dave'], callType: 'audio', timeoutMs: 2000 })
    const callId = String(answer.result?.callId)
    const invited = await dave.next((f) => f.name === 'invited' && f.data?.callId === callId)
    const dueAt = Number(invited.data?.expiresAt)
    assert.equal(await ownerOf(callId), 'node-a')

    await freeze(a.child)
    const pausedAt = Date.now()
    await until('B times the call out', async () => (await recordOf(callId)).length > 0, PAUSE_MS)
    const [record] = (await recordOf(callId)) as [CallRecord]
    assert.equal(record.endReason, 'timeout')
    assert.ok(record.endedAt >= dueAt, 'not before its deadline')
    assert.ok(record.endedAt - dueAt <= 5000, `timed out ${record.endedAt - dueAt} ms after its deadline`)
    assert.equal((await dave.next((f) => f.name === 'callEnd' && f.data?.callId === callId)).data?.reason, 'timeout')
    const tombstone = await kept(callId)
    // Past A's lease: B may look at A's calls too, and A's own timer is long overdue when it wakes.
    await sleep(Math.max(0, pausedAt + PAUSE_MS - Date.now()))

    a.child.kill('SIGCONT')
    await onlyB(callId, record, ['carol', 'dave'])
    assert.deepEqual(await kept(callId), tombstone, 'A wrote no version of the call after B')
    await carol.next((f) => f.name === 'record' && f.data?.callId === callId, 10_000)
    // A serves again: a new call through it rings.
    const again = await carol.request('call', { to: ['dave'], callType: 'audio', timeoutMs: 2000 })
    assert.equal(again.type, 'reply', JSON.stringify(again.error))
    await dave.next((f) => f.name === 'invited' && f.data?.callId === again.result?.callId)
  })
})
