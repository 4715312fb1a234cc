import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { RingKit, type WebSocketConstructor } from '@ringkit/client'
import { skipUnless, testPostgres } from './postgres.ts'
import { rest, startTestServer, testDataDir, TestDevice, type TestServer } from './support.ts'

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
const target = await testPostgres()
const dataDir = testDataDir()
after(async () => {
  await TestDevice.closeAll()
  rmSync(dataDir, { recursive: true, force: true })
  if (!('skip' in target)) await target.dropSchemas()
})

/** Runs the real `ringkit` CLI to its end. */
function ringkit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { env: { ...process.env, RINGKIT_LOG_LEVEL: 'warn', ...env }, timeout: 60_000 },
      (error, out, err) => resolve({ code: error ? Number(error.code ?? 1) : 0, out, err }),
    )
  })
}

/** Resolves with the URL `ringkit serve` prints once it serves. */
function servingUrl(child: ChildProcess): Promise<string> {
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ringkit serve printed no URL within 30 s: ${out}`)), 30_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /^RingKit is serving at (http:\/\/\S+)/m.exec(out)
      if (!match) return
      clearTimeout(timer)
      resolve(match[1]!)
    })
    child.once('exit', (code) => reject(new Error(`ringkit serve exited (${code}): ${out}`)))
  })
}

/** A device of `server` that logs in with a token issued earlier, by whichever server. */
async function loginWith(server: TestServer, accid: string, token: string): Promise<RingKit> {
  const kit = new RingKit({
    server: server.url,
    appKey: server.app.appKey,
    media: false,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    requestTimeoutMs: 5000,
  })
  await kit.login({ accid, token })
  return kit
}

describe('ringkit migrate --from-sqlite', skipUnless(target), () => {
  if ('skip' in target) return
  const schema = target.schema()
  const args = ['migrate', '--from-sqlite', dataDir, '--postgres', target.url, '--schema', schema]

  it('copies apps, accounts and records of a stopped SQLite server once, ending its cut calls; old tokens still work', async () => {
    // An app that started on the embedded default: accounts, a finished call, a call cut by the shutdown.
    const sqlite = await startTestServer({ dataDir, postgres: undefined })
    const alice = await TestDevice.online(sqlite, 'alice')
    const bob = await TestDevice.online(sqlite, 'bob')
    const rejected = await alice.kit.call({ to: 'bob', type: 'audio' })
    await (await bob.next('invited')).call.reject()
    await alice.next('record')
    // The other way round: bob just declined alice, who may not ring him again at once.
    const cut = await bob.kit.call({ to: 'alice', type: 'video' })
    await (await alice.next('invited')).call.accept()
    await bob.next('userAccept')
    await sqlite.rest('PATCH', '/v1/accounts/bob', { name: 'Bob B.' })
    const token = (await sqlite.rest('POST', '/v1/tokens', { accid: 'alice' })).body.token as string
    const other = await sqlite.createApp({ name: 'second', multiDevice: false })
    // What an app backend registered, and what a device subscribed: their secrets and keys go along.
    await sqlite.rest('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/all' })
    await sqlite.rest('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/ended', events: ['call.ended'] })
    const hooks = (await sqlite.rest('GET', '/v1/webhooks')).body.webhooks as unknown[]
    const subscription = {
      deviceId: 'bob-phone',
      endpoint: 'https://fcm.googleapis.com/fcm/send/bob',
      p256dh: 'p256dh-key',
      auth: 'auth-secret',
      lang: 'zh-CN',
      server: 'https://ringkit.example',
      createdAt: 1_700_000_000_000,
    }
    await sqlite.store.putPushSubscription(sqlite.app.appKey, 'bob', subscription, 10)

    try {
      const refused = await ringkit(args)
      assert.equal(refused.code, 1, refused.out)
      assert.match(refused.err, /is in use: stop the RingKit server that uses it first/)
    } finally {
      // The server goes first, as in a shutdown: a logout would end the live call properly.
      await sqlite.close()
      await alice.close()
      await bob.close()
    }

    const first = await ringkit(args)
    assert.equal(first.code, 0, first.err)
    assert.match(first.out, /Ended 1 call\(s\) cut by the SQLite server's shutdown/)
    assert.match(first.out, /apps\s+2 copied, 0 already there/)
    assert.match(first.out, /accounts\s+2 copied, 0 already there/)
    assert.match(first.out, /records\s+2 copied, 0 already there/)
    assert.match(first.out, /webhook endpoints\s+2 copied, 0 already there/)
    assert.match(first.out, /push subscriptions\s+1 copied, 0 already there/)

    const again = await ringkit(args)
    assert.equal(again.code, 0, again.err)
    assert.doesNotMatch(again.out, /Ended/)
    assert.match(again.out, /apps\s+0 copied, 2 already there/)
    assert.match(again.out, /accounts\s+0 copied, 2 already there/)
    assert.match(again.out, /records\s+0 copied, 2 already there/)

    const onPostgres = await startTestServer({ dataDir, postgres: { url: target.url, schema } })
    try {
      assert.equal(onPostgres.defaultApp.created, false, 'the same default app')
      assert.deepEqual([onPostgres.app.appKey, onPostgres.app.appSecret], [sqlite.app.appKey, sqlite.app.appSecret])
      assert.deepEqual((await onPostgres.store.getApp(other.appKey))?.multiDevice, false)
      const kit = await loginWith(onPostgres, 'alice', token)
      await kit.logout()
      const bobNow = await onPostgres.rest('GET', '/v1/accounts/bob')
      assert.equal(bobNow.body.name, 'Bob B.')
      const history = await onPostgres.rest('GET', '/v1/accounts/alice/calls?limit=10')
      assert.equal(history.status, 200)
      const records = history.body.records as { callId: string; status: number; endReason: string }[]
      assert.deepEqual(
        records.map((r) => [r.callId, r.status, r.endReason]),
        [
          [cut.callId, 1, 'interrupted'],
          [rejected.callId, 3, 'rejected'],
        ],
      )
      assert.deepEqual(await onPostgres.store.listJournaledCalls(), [], 'no journal left to end again')
      assert.deepEqual((await onPostgres.rest('GET', '/v1/webhooks')).body.webhooks, hooks)
      assert.deepEqual(await onPostgres.store.listPushSubscriptions(onPostgres.app.appKey, 'bob'), [subscription])
    } finally {
      await onPostgres.close()
    }
  })

  it('copies a server killed with kill -9 mid-call: the cut call gets its record, dated to before the kill', async () => {
    const crashedDir = testDataDir()
    const app = {
      appKey: 'crashed-app',
      appSecret: randomBytes(24).toString('hex'),
      name: 'default',
      multiDevice: true,
      createdAt: 0,
    }
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', crashedDir, '--no-demo'],
      {
        env: {
          ...process.env,
          RINGKIT_APP_KEY: app.appKey,
          RINGKIT_APP_SECRET: app.appSecret,
          RINGKIT_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    const crashedSchema = target.schema()
    try {
      const url = await servingUrl(child)
      const server = { url, app, rest: rest(url, app) }
      const carol = await TestDevice.online(server, 'carol')
      const dave = await TestDevice.online(server, 'dave')
      const call = await carol.kit.call({ to: 'dave', type: 'audio' })
      await (await dave.next('invited')).call.accept()
      await carol.next('userAccept')
      const killedAt = Date.now()
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
      await TestDevice.closeAll()

      const run = await ringkit([
        'migrate',
        '--from-sqlite',
        crashedDir,
        '--postgres',
        target.url,
        '--schema',
        crashedSchema,
      ])
      assert.equal(run.code, 0, run.err)
      assert.match(run.out, /Ended 1 call\(s\)/)
      assert.match(run.out, /records\s+1 copied, 0 already there/)
      const onPostgres = await startTestServer({
        dataDir: crashedDir,
        postgres: { url: target.url, schema: crashedSchema },
      })
      try {
        const record = await onPostgres.store.getRecord(app.appKey, call.callId)
        assert.equal(record?.endReason, 'interrupted')
        assert.ok(record.endedAt <= killedAt, `ended ${record.endedAt - killedAt} ms after the kill`)
      } finally {
        await onPostgres.close()
      }
    } finally {
      child.kill('SIGKILL')
      rmSync(crashedDir, { recursive: true, force: true })
    }
  })

  it('says what it needs, and refuses a data dir without a RingKit database', async () => {
    const usage = await ringkit(['migrate', '--from-sqlite', dataDir])
    assert.equal(usage.code, 1)
    assert.match(usage.err, /usage: ringkit migrate --from-sqlite DATA_DIR --postgres URL/)
    const empty = testDataDir()
    try {
      const missing = await ringkit(['migrate', '--from-sqlite', empty, '--postgres', target.url, '--schema', schema])
      assert.equal(missing.code, 1)
      assert.match(missing.err, /no RingKit database in .* \(ringkit\.db is missing\)/)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})

describe('ringkit serve --postgres', () => {
  it('refuses PostgreSQL without Redis, saying that SQLite is the one-node default', async () => {
    const run = await ringkit(['serve', '--postgres', 'postgres://127.0.0.1:1/none', '--no-demo'], {
      RINGKIT_REDIS_URL: '',
    })
    assert.equal(run.code, 1)
    assert.match(run.err, /--postgres runs RingKit as a cluster and needs --redis too/)
    assert.match(run.err, /SQLite in --data-dir is the default/)
  })
})
