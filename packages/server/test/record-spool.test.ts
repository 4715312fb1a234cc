import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import { openPostgresStore } from '../src/store/postgres.ts'
import { createMetrics } from '../src/metrics.ts'
import { RECORD_SPOOL_DIR, withRecordSpool, type SpooledStore } from '../src/store/record-spool.ts'
import { NODE_TTL_MS } from '../src/bus/nodes.ts'
import { clusterSuite, serveClusterNode } from './cluster.ts'
import { pgOutage, skipUnless, type TestPostgres } from './postgres.ts'
import { redisScope } from './redis.ts'
import { record as contractRecord } from './store-contract.ts'
import { rest, signedHeaders, startTestServer, testDataDir, TestDevice, waitFor, type ServerTarget } from './support.ts'

const { redis, postgres: target, scopes } = await clusterSuite()
const dataDirs: string[] = []
after(() => dataDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

/** The records PostgreSQL holds for the call, and whether its journal row is still there. */
async function stored(pg: TestPostgres, schema: string, callId: string) {
  const records = await pg.query(`SELECT record FROM "${schema}".call_records WHERE call_id = $1`, [callId])
  const journal = await pg.query(`SELECT 1 FROM "${schema}".call_journal WHERE call_id = $1`, [callId])
  return { records: records.rows.map((r: { record: CallRecord }) => r.record), journaled: journal.rowCount === 1 }
}

const spoolFiles = (dataDir: string) => readdirSync(join(dataDir, RECORD_SPOOL_DIR))

/** alice calls bob, bob answers; resolves once alice heard it. */
async function answeredCall(server: ServerTarget) {
  const alice = await TestDevice.online(server, 'alice')
  const bob = await TestDevice.online(server, 'bob')
  const call = await alice.kit.call({ to: 'bob', type: 'audio' })
  await (await bob.next('invited')).call.accept()
  await alice.next('userAccept', (e) => e.accid === 'bob')
  return { alice, bob, call }
}

/** An answered call's record, ended now, in the store suite's shape. */
function record(callId: string): CallRecord {
  const at = Date.now()
  return contractRecord(callId, at, {
    status: RECORD_STATUS.completed,
    endReason: 'hangup',
    startedAt: at - 5000,
    connectedAt: at - 4000,
    durationSeconds: 4,
    members: [
      { accid: 'alice', status: 'joined', joinedAt: at - 5000, leftAt: at },
      { accid: 'bob', status: 'joined', joinedAt: at - 4000, leftAt: at },
    ],
  })
}

describe('records due while PostgreSQL is unreachable', skipUnless(target), () => {
  if ('skip' in target) return

  it('a call hung up during an outage gives both sides callEnd and record, and its record is in PostgreSQL once it is back', async () => {
    const outage = await pgOutage(target.url)
    const schema = target.schema()
    const server = await startTestServer({ postgres: { url: outage.url, schema } })
    try {
      const { alice, bob, call } = await answeredCall(server)
      await outage.cut()
      await call.hangup()
      await Promise.all([alice.next('callEnd'), bob.next('callEnd')])
      const [ra, rb] = await Promise.all([alice.next('record', undefined, 15_000), bob.next('record')])
      assert.equal(ra.callId, call.callId)
      assert.equal(ra.status, RECORD_STATUS.completed)
      assert.deepEqual(rb, ra)
      assert.deepEqual(spoolFiles(server.dataDir).length, 1, 'the record is in the spool')
      assert.equal((server.store as SpooledStore).spooledRecords, 1)
      const history = await server.rest('GET', '/v1/accounts/alice/calls')
      assert.equal(history.status, 503)
      assert.equal(history.body.error.code, 'STORE_UNAVAILABLE')

      await outage.restore()
      await waitFor('the spooled record written', () => spoolFiles(server.dataDir).length === 0, 15_000)
      const { records, journaled } = await stored(target, schema, call.callId)
      assert.deepEqual(records, [ra], 'the record the devices got, once')
      assert.equal(journaled, false, 'its journal row ended with it')
      const back = await server.rest('GET', '/v1/accounts/bob/calls')
      assert.deepEqual(
        back.body.records.map((r: CallRecord) => r.callId),
        [call.callId],
      )
      const metrics = await (await fetch(`${server.url}/metrics`, { headers: signedHeaders(server.app) })).text()
      assert.match(metrics, /^ringkit_records_spooled 0$/m)
    } finally {
      await server.close()
      await outage.close()
    }
  })

  it('a spooled record already written before a crash kept its file is not written again, and the metric counts the spool', async () => {
    const outage = await pgOutage(target.url)
    const schema = target.schema()
    const dir = join(testDataDir(), RECORD_SPOOL_DIR)
    dataDirs.push(join(dir, '..'))
    const direct = await openPostgresStore({ url: target.url, schema })
    try {
      const spooling = await withRecordSpool(await openPostgresStore({ url: outage.url, schema }), { dir })
      await outage.cut()
      const first = record(`call-${randomBytes(4).toString('hex')}`)
      assert.equal(await spooling.finishCall('app', first), true)
      assert.equal(spooling.spooledRecords, 1)
      const metrics = createMetrics(undefined, () => spooling.spooledRecords)
      assert.match(await metrics.registry.metrics(), /^ringkit_records_spooled 1$/m)
      await spooling.close()
      // The write committed, the node died before removing the file: the same record, once more.
      assert.equal(await direct.finishCall('app', first), true)
      const again = await withRecordSpool(await openPostgresStore({ url: target.url, schema }), { dir })
      assert.equal(again.spooledRecords, 0)
      assert.deepEqual(readdirSync(dir), [])
      assert.deepEqual((await stored(target, schema, first.callId)).records, [first])
      await again.close()
    } finally {
      await direct.close()
      await outage.close()
    }
  })

  it('a record PostgreSQL refuses (not an outage) fails the write and is not spooled', async () => {
    const dir = join(testDataDir(), RECORD_SPOOL_DIR)
    dataDirs.push(join(dir, '..'))
    const store = await withRecordSpool(await openPostgresStore({ url: target.url, schema: target.schema() }), { dir })
    try {
      // PostgreSQL keeps no NUL in text: the statement is refused, the connection is fine.
      await assert.rejects(store.finishCall('app', record('bad\u0000call')), (error: Error) => {
        assert.notEqual((error as { code?: unknown }).code, 'STORE_UNAVAILABLE')
        return true
      })
      assert.equal(store.spooledRecords, 0)
      assert.deepEqual(readdirSync(dir), [])
    } finally {
      await store.close()
    }
  })
})

describe('ringkit serve killed while a record is spooled', { skip: redis.skip || skipUnless(target).skip }, () => {
  if ('skip' in target) return

  it('writes the record once, when started again on the same data dir after PostgreSQL is back', async () => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const outage = await pgOutage(target.url)
    const schema = target.schema()
    const dataDir = testDataDir()
    dataDirs.push(dataDir)
    const app = { appKey: 'spool-app', appSecret: randomBytes(24).toString('hex') }
    const env = { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret }
    const through = { ...target, url: outage.url, schema: () => schema }
    const first = await serveClusterNode(through, redis.url, scope, env, { dataDir })
    try {
      const server = { url: first.url, app: { ...app, name: 'default', multiDevice: true, createdAt: 0 } }
      const { alice, bob, call } = await answeredCall({ ...server, rest: rest(first.url, server.app) })
      await outage.cut()
      await call.hangup()
      const [ra] = await Promise.all([alice.next('record', undefined, 15_000), bob.next('record')])
      first.run.child.kill('SIGKILL')
      await first.run.exited
      await outage.restore()
      const before = await stored(target, schema, call.callId)
      assert.deepEqual(before.records, [], 'the outage kept the record from PostgreSQL')
      assert.equal(before.journaled, true)

      const second = await serveClusterNode(through, redis.url, scope, env, { dataDir })
      try {
        // Written on start, before the node serves: its recovery finds no journal row to end.
        const { records, journaled } = await stored(target, schema, call.callId)
        assert.deepEqual(records, [ra], 'the record the devices got, once, not an interrupted one')
        assert.equal(journaled, false)
        assert.deepEqual(spoolFiles(dataDir), [])
      } finally {
        await second.stop()
      }
    } finally {
      first.run.child.kill('SIGKILL')
      await outage.close()
    }
  })

  it('stays down past its lease: another node writes the record the devices got, not an interrupted one', async () => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    const outage = await pgOutage(target.url)
    const schema = target.schema()
    const dataDir = testDataDir()
    dataDirs.push(dataDir)
    const app = { appKey: 'spool-app', appSecret: randomBytes(24).toString('hex') }
    const env = { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret }
    const first = await serveClusterNode({ ...target, url: outage.url, schema: () => schema }, redis.url, scope, env, {
      dataDir,
    })
    try {
      const server = { url: first.url, app: { ...app, name: 'default', multiDevice: true, createdAt: 0 } }
      const { alice, bob, call } = await answeredCall({ ...server, rest: rest(first.url, server.app) })
      await outage.cut()
      await call.hangup()
      const [ra] = await Promise.all([alice.next('record', undefined, 15_000), bob.next('record')])
      first.run.child.kill('SIGKILL')
      await first.run.exited
      await outage.restore()
      assert.deepEqual((await stored(target, schema, call.callId)).records, [])
      assert.equal(spoolFiles(dataDir).length, 1, "the record stays in the dead node's spool")

      // Another node, on a data dir of its own: the dead node's spool is out of its reach.
      const second = await serveClusterNode({ ...target, schema: () => schema }, redis.url, scope, env)
      try {
        // Ended one way or the other within the dead node's lease and a look for its calls.
        const deadline = Date.now() + NODE_TTL_MS + 10_000
        let seen = await stored(target, schema, call.callId)
        while (seen.journaled && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 200))
          seen = await stored(target, schema, call.callId)
        }
        const { records, journaled } = seen
        assert.deepEqual(records, [ra], 'the record the devices got, once, not an interrupted one')
        assert.equal(journaled, false)
        assert.deepEqual(await scope.keys().then((keys) => keys.filter((k) => k.endsWith('spooled-records'))), [])
      } finally {
        await second.stop()
      }
    } finally {
      first.run.child.kill('SIGKILL')
      await outage.close()
    }
  })
})
