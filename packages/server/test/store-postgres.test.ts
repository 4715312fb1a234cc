import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MIGRATIONS } from '../src/store/migrations/index.ts'
import { migrate } from '../src/store/pg-migrate.ts'
import { db, openPool } from '../src/store/pg-pool.ts'
import { openPostgresStore } from '../src/store/postgres.ts'
import { pgOutage, skipUnless, testPostgres } from './postgres.ts'
import { callState, record, storeContract } from './store-contract.ts'

const target = await testPostgres()
after(() => ('skip' in target ? undefined : target.dropSchemas()))

describe('PostgreSQL store', skipUnless(target), () => {
  if ('skip' in target) return
  const { url } = target

  storeContract(() => {
    const schema = target.schema()
    return { open: () => openPostgresStore({ url, schema }), again: () => openPostgresStore({ url, schema }) }
  })

  it('migrations run once: opening again applies nothing, and the versions are recorded', async () => {
    const schema = target.schema()
    const pool = openPool({ url })
    try {
      assert.deepEqual(
        await migrate(db(pool), schema),
        MIGRATIONS.map((m) => m.version),
      )
      assert.deepEqual(await migrate(db(pool), schema), [])
      const { rows } = await target.query(`SELECT version, name FROM "${schema}".schema_migrations ORDER BY version`)
      assert.deepEqual(
        rows,
        MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
      )
    } finally {
      await pool.end()
    }
    const store = await openPostgresStore({ url, schema })
    await store.close()
  })

  it('the journal names the node that wrote each call last; a row from before owners were kept names none', async () => {
    const schema = target.schema()
    const pool = openPool({ url })
    try {
      await migrate(db(pool), schema, MIGRATIONS.slice(0, 1))
      await target.query(`INSERT INTO "${schema}".call_journal (call_id, state) VALUES ($1, $2)`, [
        'old',
        JSON.stringify(callState('old', 'app', 1000)),
      ])
    } finally {
      await pool.end()
    }
    const store = await openPostgresStore({ url, schema })
    try {
      const owners = async () =>
        Object.fromEntries((await store.listJournal()).map((j) => [j.state.callId, j.owner ?? null]))
      assert.deepEqual(await owners(), { old: null })
      await store.journalCall(callState('c1', 'app', 1000), 'node-1')
      assert.deepEqual(await owners(), { old: null, c1: 'node-1' })
      await store.journalCall(callState('c1', 'app', 1000), 'node-2')
      await store.journalCall(callState('old', 'app', 1000), 'node-2')
      assert.deepEqual(await owners(), { old: 'node-2', c1: 'node-2' })
      assert.equal(await store.finishCall('app', record('c1', 2000)), true)
      assert.deepEqual(await owners(), { old: 'node-2' })
    } finally {
      await store.close()
    }
  })

  it('journal writes are fenced on the live version: a node that paused past its lease cannot take its call back', async () => {
    const schema = target.schema()
    // Two nodes, each on connections of its own.
    const [paused, taker] = await Promise.all([openPostgresStore({ url, schema }), openPostgresStore({ url, schema })])
    try {
      const journal = async () =>
        (await target.query(`SELECT state, node_id, version FROM "${schema}".call_journal`)).rows as {
          state: ReturnType<typeof callState>
          node_id: string
          version: string
        }[]
      const ringing = callState('c1', 'app', 1000)
      const answered = { ...ringing, createdAt: 1001 }
      const takenOver = { ...ringing, createdAt: 1002 }
      assert.equal(await paused.journalCall(ringing, 'node-a', 1), true)
      // node-a wrote version 2 of the live state, then stopped before journaling it; node-b took
      // the call over at version 3 and journaled that; node-a wakes and journals its version 2.
      assert.equal(await taker.journalCall(takenOver, 'node-b', 3), true)
      assert.equal(await paused.journalCall(answered, 'node-a', 2), false, 'the stale write is refused')
      assert.deepEqual(await journal(), [{ state: takenOver, node_id: 'node-b', version: '3' }])
      assert.deepEqual(
        (await taker.listJournal()).map((j) => j.owner),
        ['node-b'],
      )
      // The same version again (a write sent twice) changes nothing either; a newer one writes.
      assert.equal(await taker.journalCall(takenOver, 'node-b', 3), false)
      assert.equal(await taker.journalCall({ ...takenOver, createdAt: 1003 }, 'node-b', 4), true)
      // Once the record is written, a late journal write of the call brings no row back.
      assert.equal(await taker.finishCall('app', record('c1', 2000)), true)
      assert.equal(await paused.journalCall(answered, 'node-a', 5), false)
      assert.deepEqual(await journal(), [])
    } finally {
      await Promise.all([paused.close(), taker.close()])
    }
  })

  it("call ids compare bytewise whatever the database collation, as in SQLite: pages end where SQLite's do", async () => {
    const schema = target.schema()
    const store = await openPostgresStore({ url, schema })
    await store.close()
    const { rows } = await target.query(
      "SELECT DISTINCT collation_name FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'call_id'",
      [schema],
    )
    assert.deepEqual(rows, [{ collation_name: 'C' }])
  })

  it('several stores opening one fresh schema at once all succeed, and it is migrated once', async () => {
    const schema = target.schema()
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ url, schema })))
    try {
      await stores[0]!.putSetting('k', 'v')
      for (const store of stores) assert.equal(await store.getSetting('k'), 'v')
      const { rows } = await target.query(`SELECT count(*)::int AS n FROM "${schema}".schema_migrations`)
      assert.deepEqual(rows, [{ n: MIGRATIONS.length }])
    } finally {
      await Promise.all(stores.map((store) => store.close()))
    }
  })

  it('a failing migration step leaves the schema as it was, and says why', async () => {
    const schema = target.schema()
    const broken = [
      ...MIGRATIONS,
      { version: 999, name: 'broken', up: (s: string) => `CREATE TABLE ${s}.x (); SELECT nope` },
    ]
    const pool = openPool({ url })
    try {
      await assert.rejects(migrate(db(pool), schema, broken), /nope/)
      const { rows } = await target.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema])
      assert.deepEqual(rows, [], 'not even the schema was made')
    } finally {
      await pool.end()
    }
  })

  it('a schema migrated by a newer RingKit is refused rather than used', async () => {
    const schema = target.schema()
    const pool = openPool({ url })
    try {
      const newer = [...MIGRATIONS, { version: 1000, name: 'later', up: () => 'SELECT 1' }]
      await migrate(db(pool), schema, newer)
      await assert.rejects(openPostgresStore({ url, schema }), /at version 1000, newer than this RingKit knows/)
    } finally {
      await pool.end()
    }
  })

  it('a schema name outside lowercase letters, digits and _ is refused before connecting', async () => {
    for (const schema of ['Ringkit', 'a"; DROP SCHEMA public; --', '1abc', '', 'a-b', 'x'.repeat(64)]) {
      await assert.rejects(openPostgresStore({ url, schema }), /the PostgreSQL schema must match/, schema)
    }
  })

  it('an unreachable PostgreSQL rejects with STORE_UNAVAILABLE within seconds, on open and on every call', async () => {
    const dead = 'postgres://postgres@127.0.0.1:1/test'
    const started = Date.now()
    await assert.rejects(openPostgresStore({ url: dead, schema: target.schema() }), { code: 'STORE_UNAVAILABLE' })
    assert.ok(Date.now() - started < 5000)

    // A store that was open when the database went away, and that comes back by itself.
    const outage = await pgOutage(url)
    const store = await openPostgresStore({ url: outage.url, schema: target.schema() })
    try {
      await store.putSetting('k', 'v')
      await outage.cut()
      const cut = Date.now()
      await assert.rejects(store.getSetting('k'), { code: 'STORE_UNAVAILABLE' })
      await assert.rejects(store.finishCall('app', record('lost', 1)), { code: 'STORE_UNAVAILABLE' })
      assert.ok(Date.now() - cut < 8000, `${Date.now() - cut} ms`)
      await outage.restore()
      assert.equal(await store.getSetting('k'), 'v')
      assert.equal(await store.finishCall('app', record('lost', 1)), true)
    } finally {
      await store.close()
      await outage.close()
    }
  })
})
