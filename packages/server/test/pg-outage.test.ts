import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RECORD_STATUS, RingKitError, type CallRecord } from '@ringkit/protocol'
import type { CallState } from '../src/calls/types.ts'
import { clusterSuite } from './cluster.ts'
import { pgOutage, skipUnless, type PgOutage, type TestPostgres } from './postgres.ts'
import { redisScope } from './redis.ts'
import { signedHeaders, startTestServer, TestDevice, type TestServer } from './support.ts'

/**
 * A node of a cluster (PostgreSQL through a proxy that can cut it, and Redis) while PostgreSQL
 * goes away: calls in progress go on, their journal catches up once it is back, and /metrics
 * stays readable.
 */
const { redis, postgres: target, scopes } = await clusterSuite()
const skip = redis.skip || skipUnless(target).skip

interface Outaged {
  server: TestServer
  outage: PgOutage
  schema: string
  close(): Promise<void>
}

async function clusterNodeBehindOutage(pg: TestPostgres): Promise<Outaged> {
  const outage = await pgOutage(pg.url)
  const schema = pg.schema()
  const scope = redisScope(redis.url)
  scopes.push(scope)
  const server = await startTestServer({
    postgres: { url: outage.url, schema },
    redis: { url: scope.url, prefix: scope.prefix },
  })
  return {
    server,
    outage,
    schema,
    async close() {
      await server.close()
      await outage.close()
    },
  }
}

/** The call's journal row as PostgreSQL holds it (read straight, not through the cut proxy). */
async function journalRow(pg: TestPostgres, schema: string, callId: string) {
  const { rows } = await pg.query(`SELECT state, version FROM "${schema}".call_journal WHERE call_id = $1`, [callId])
  const row = rows[0] as { state: CallState; version: string | null } | undefined
  return row && { phase: row.state.phase, members: row.state.members, version: row.version }
}

async function storedRecords(pg: TestPostgres, schema: string, callId: string): Promise<CallRecord[]> {
  const { rows } = await pg.query(`SELECT record FROM "${schema}".call_records WHERE call_id = $1`, [callId])
  return rows.map((r: { record: CallRecord }) => r.record)
}

/** Polls PostgreSQL (straight) until `ready` holds. */
async function eventually(what: string, ready: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('a cluster node while PostgreSQL is unreachable', { skip }, () => {
  if ('skip' in target) return

  it('a call answered during the outage connects and ends with its record; its journal row catches up once PostgreSQL is back', async () => {
    const node = await clusterNodeBehindOutage(target)
    try {
      const alice = await TestDevice.online(node.server, 'alice')
      const bob = await TestDevice.online(node.server, 'bob')
      const carol = await TestDevice.online(node.server, 'carol')
      const call = await alice.kit.call({ to: 'bob', type: 'audio' })
      const invited = await bob.next('invited')
      const begun = await journalRow(target, node.schema, call.callId)
      assert.equal(begun?.phase, 'ringing')
      assert.equal(begun.version, '1', 'journaled at the version the call began at')

      await node.outage.cut()
      await invited.call.accept()
      await alice.next('userAccept', (e) => e.accid === 'bob')
      // A new call needs its journal row before it may ring: it fails with a clear code. (bob's
      // account was seen already, so what fails is the journal, not the account's lookup.)
      await assert.rejects(
        carol.kit.call({ to: 'bob', type: 'audio' }),
        (e: unknown) => e instanceof RingKitError && e.code === 'STORE_UNAVAILABLE',
      )
      assert.equal((await journalRow(target, node.schema, call.callId))?.phase, 'ringing', 'the answer waits')

      await node.outage.restore()
      await eventually(
        'the answer journaled',
        async () => (await journalRow(target, node.schema, call.callId))?.phase === 'active',
      )
      // Written at the live version of the answer, past the one the call began at.
      assert.ok(Number((await journalRow(target, node.schema, call.callId))?.version) > 1)
      await call.hangup()
      const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
      assert.equal(ra.status, RECORD_STATUS.completed)
      assert.deepEqual(rb, ra)
      assert.deepEqual(await storedRecords(target, node.schema, call.callId), [ra])
      assert.equal(await journalRow(target, node.schema, call.callId), undefined)
    } finally {
      await node.close()
    }
  })

  it('a group call changes during the outage (answers, a decline, a leave) and its journal ends at its latest state', async () => {
    const node = await clusterNodeBehindOutage(target)
    try {
      const online = (accid: string) => TestDevice.online(node.server, accid)
      const [ann, bob, cat, dan] = await Promise.all([online('ann'), online('bob'), online('cat'), online('dan')])
      const call = await ann.kit.groupCall({ to: ['bob', 'cat', 'dan'], type: 'audio' })
      const invites = await Promise.all([bob, cat, dan].map(async (d) => d.next('invited')))
      await node.outage.cut()
      await invites[0]!.call.accept()
      await ann.next('userAccept', (e) => e.accid === 'bob')
      await invites[1]!.call.accept()
      await ann.next('userAccept', (e) => e.accid === 'cat')
      await invites[2]!.call.reject()
      await ann.next('userReject', (e) => e.accid === 'dan')
      await invites[1]!.call.leave()
      const members = await ann.next('membersChange', (e) =>
        e.members.some((m) => m.accid === 'cat' && m.status === 'left'),
      )
      const latest = Object.fromEntries(members.members.map((m) => [m.accid, m.status]))
      assert.deepEqual(latest, { ann: 'joined', bob: 'joined', cat: 'left', dan: 'rejected' })

      await node.outage.restore()
      const journaled = async () => {
        const row = await journalRow(target, node.schema, call.callId)
        // A member who left stays joined, with when it left.
        return Object.fromEntries((row?.members ?? []).map((m) => [m.accid, m.leftAt ? 'left' : m.status]))
      }
      await eventually('the latest members journaled', async () => (await journaled()).cat === 'left')
      assert.deepEqual(await journaled(), { bob: 'joined', cat: 'left', dan: 'rejected' })
      await call.hangup()
      const record = await ann.next('record')
      assert.deepEqual(await storedRecords(target, node.schema, call.callId), [record])
    } finally {
      await node.close()
    }
  })

  it('/metrics stays readable with credentials verified before the outage; a wrong secret or an app not seen still fails', async () => {
    const node = await clusterNodeBehindOutage(target)
    const metrics = (app: { appKey: string; appSecret: string }) =>
      fetch(`${node.server.url}/metrics`, { headers: signedHeaders(app) })
    try {
      assert.equal((await metrics(node.server.app)).status, 200)
      const other = await node.server.createApp({ name: 'other' })
      await node.outage.cut()
      const during = await metrics(node.server.app)
      assert.equal(during.status, 200)
      assert.match(await during.text(), /^ringkit_records_spooled 0$/m)
      const wrong = await metrics({ ...node.server.app, appSecret: 'x'.repeat(48) })
      assert.equal(wrong.status, 401)
      const unseen = await metrics(other)
      assert.equal(unseen.status, 503)
      assert.equal(((await unseen.json()) as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE')
      const history = await node.server.rest('GET', '/v1/accounts/alice/calls')
      assert.equal(history.status, 503, 'what needs the store still says it is away')
    } finally {
      await node.close()
    }
  })
})
