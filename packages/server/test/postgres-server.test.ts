import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pgOutage, skipUnless, testPostgres } from './postgres.ts'
import { startTestServer, TestDevice, tokenFor } from './support.ts'

const target = await testPostgres()
after(() => ('skip' in target ? undefined : target.dropSchemas()))

describe('a server on PostgreSQL', skipUnless(target), () => {
  if ('skip' in target) return

  it('answers REST with 503 STORE_UNAVAILABLE while the database is away, and serves again when it is back', async () => {
    const outage = await pgOutage(target.url)
    const server = await startTestServer({ postgres: { url: outage.url, schema: target.schema() } })
    try {
      assert.equal((await server.rest('POST', '/v1/accounts', { accid: 'alice' })).status, 201)
      await outage.cut()
      const started = Date.now()
      const away = await server.rest('GET', '/v1/accounts/alice')
      assert.equal(away.status, 503)
      assert.equal(away.body.error.code, 'STORE_UNAVAILABLE')
      assert.ok(Date.now() - started < 8000, `answered after ${Date.now() - started} ms`)
      await outage.restore()
      const back = await server.rest('GET', '/v1/accounts/alice')
      assert.equal(back.status, 200)
      assert.equal(back.body.accid, 'alice')
    } finally {
      await server.close()
      await outage.close()
    }
  })

  it('refuses a login with STORE_UNAVAILABLE while the database is away; the same token works once it is back', async () => {
    const outage = await pgOutage(target.url)
    const server = await startTestServer({ postgres: { url: outage.url, schema: target.schema() } })
    const device = new TestDevice(server, 'alice')
    try {
      const token = await tokenFor(server, 'alice')
      await outage.cut()
      await assert.rejects(device.kit.login({ accid: 'alice', token }), { code: 'STORE_UNAVAILABLE' })
      await outage.restore()
      await device.kit.login({ accid: 'alice', token })
    } finally {
      await device.close()
      await server.close()
      await outage.close()
    }
  })

  it('keeps its default app and accounts across a restart on the same schema', async () => {
    const postgres = { url: target.url, schema: target.schema() }
    const first = await startTestServer({ postgres })
    await first.rest('POST', '/v1/accounts', { accid: 'alice', name: 'Alice' })
    await first.close()
    const second = await startTestServer({ postgres })
    try {
      assert.equal(second.defaultApp.created, false)
      assert.equal(second.app.appSecret, first.app.appSecret)
      assert.equal((await second.rest('GET', '/v1/accounts/alice')).body.name, 'Alice')
    } finally {
      await second.close()
    }
  })
})
