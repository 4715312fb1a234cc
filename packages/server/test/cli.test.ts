import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { PLACEHOLDER_JANUS_SECRET } from '../src/sfu/index.ts'
import { startServer } from '../src/index.ts'
import { rest, TestDevice, type ServerTarget } from './support.ts'
import { runCli, servingUrl, type CliRun as Run } from './cli-process.ts'

const scratch = mkdtempSync(join(tmpdir(), 'ringkit-cli-'))
const children = new Set<ChildProcess>()
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')))

after(() => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(scratch, { recursive: true, force: true })
})

const run = (args: string[], env: Record<string, string> = {}): Run => runCli(args, env, children)
const serving = servingUrl

async function stop(server: Run): Promise<void> {
  server.child.kill('SIGTERM')
  await server.exited
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)
const serveArgs = (dataDir: string, demo = false) => [
  'serve',
  ...['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir],
  ...(demo ? [] : ['--no-demo']),
]

describe('ringkit serve', () => {
  it('keeps the data dir 0700 and every database in it 0600, log files and the demo’s included, tightening an older install', async () => {
    const dataDir = join(scratch, 'old-install')
    mkdirSync(dataDir, { mode: 0o755 })
    writeFileSync(join(dataDir, 'demo.sqlite'), '', { mode: 0o644 })
    writeFileSync(join(dataDir, 'notes.txt'), 'not ours', { mode: 0o644 })
    const app = { appKey: 'cli-app', appSecret: randomBytes(24).toString('hex') }
    const server = run(serveArgs(dataDir, true), { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret })
    const url = await serving(server)
    // A write, so that the log and shared-memory files exist.
    assert.equal((await rest(url, app)('POST', '/v1/accounts', { accid: 'perm' })).status, 201)
    assert.equal(mode(dataDir), '700')
    for (const file of ['ringkit.db', 'ringkit.db-wal', 'ringkit.db-shm', 'demo.sqlite']) {
      assert.equal(mode(join(dataDir, file)), '600', file)
    }
    assert.equal(mode(join(dataDir, 'notes.txt')), '644', 'a file that is not RingKit’s is left alone')
    await stop(server)
  })

  it('prints an AppSecret it generated once, and never one that came from the environment', async () => {
    const fromEnv = join(scratch, 'secret-from-env')
    const secret = randomBytes(24).toString('hex')
    const chosen = run(serveArgs(fromEnv), { RINGKIT_APP_KEY: 'env-app', RINGKIT_APP_SECRET: secret })
    await serving(chosen)
    await stop(chosen)
    assert.doesNotMatch(chosen.stdout() + chosen.stderr(), new RegExp(secret))
    assert.match(chosen.stdout(), /AppKey env-app/)

    const generated = join(scratch, 'generated-secret')
    const first = run(serveArgs(generated))
    await serving(first)
    await stop(first)
    const printed = /AppSecret: ([0-9a-f]{48})/.exec(first.stdout())
    assert.ok(printed, first.stdout())
    const again = run(serveArgs(generated))
    await serving(again)
    await stop(again)
    assert.doesNotMatch(again.stdout(), new RegExp(printed[1]!))
  })

  it('refuses the placeholder Janus api_secret with a clear error, before creating anything', async () => {
    const dataDir = join(scratch, 'placeholder')
    const server = run([...serveArgs(dataDir), '--janus', 'ws://127.0.0.1:1'], {
      RINGKIT_JANUS_SECRET: PLACEHOLDER_JANUS_SECRET,
    })
    assert.equal(await server.exited, 1)
    assert.match(server.stderr(), /api_secret is the placeholder .*janus\.jcfg.*RINGKIT_JANUS_SECRET/)
    assert.equal(existsSync(dataDir), false)
  })

  it('refuses a --node-id that is not a plain name, before creating anything', async () => {
    const dataDir = join(scratch, 'node-id')
    const server = run([...serveArgs(dataDir), '--node-id', 'web 1:{a}'])
    assert.equal(await server.exited, 1)
    assert.match(server.stderr(), /--node-id takes 1 to 64 letters, digits, dots, dashes and underscores/)
    assert.equal(existsSync(dataDir), false)
  })

  it('still takes --janus-secret on the command line, warning that process lists show it', async () => {
    const server = run([
      ...serveArgs(join(scratch, 'flag')),
      '--janus',
      'ws://127.0.0.1:1',
      '--janus-secret',
      'x'.repeat(32),
    ])
    await serving(server)
    await stop(server)
    assert.match(
      server.stderr(),
      /--janus-secret is visible to every user of this host \(ps\); prefer RINGKIT_JANUS_SECRET/,
    )
  })
})

describe('ringkit serve on SIGTERM', () => {
  /** `ringkit serve` with a fixed app, and what devices need to reach it. */
  async function servingApp(name: string): Promise<{ server: Run; target: ServerTarget }> {
    const app = { appKey: `cli-${name}`, appSecret: randomBytes(24).toString('hex') }
    const server = run(serveArgs(join(scratch, name)), {
      RINGKIT_APP_KEY: app.appKey,
      RINGKIT_APP_SECRET: app.appSecret,
    })
    const url = await serving(server)
    const target = { url, app: { ...app, name: 'default', multiDevice: true, createdAt: 0 }, rest: rest(url, app) }
    return { server, target }
  }

  it('drains: an idle device is asked to move, and the process exits 0 well within 30 s', async () => {
    const { server, target } = await servingApp('drain-idle')
    const device = await TestDevice.online(target, 'idle')
    const signaled = Date.now()
    server.child.kill('SIGTERM')
    assert.match((await device.next('disconnect')).reason, /moving to another/)
    assert.equal(await server.exited, 0)
    assert.ok(Date.now() - signaled < 30_000, `exited after ${Date.now() - signaled} ms`)
    assert.match(server.stdout(), /SIGTERM: draining/)
    await device.close()
  })

  it('waits for a call in progress, and a second signal exits at once', async () => {
    const { server, target } = await servingApp('drain-twice')
    const alice = await TestDevice.online(target, 'alice')
    const bob = await TestDevice.online(target, 'bob')
    await alice.kit.call({ to: 'bob', type: 'audio' })
    await (await bob.next('invited')).call.accept()
    await alice.next('userAccept')
    server.child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    assert.equal(server.child.exitCode, null, 'still draining while the call goes on')
    const again = Date.now()
    server.child.kill('SIGTERM')
    assert.equal(await server.exited, 143)
    assert.ok(Date.now() - again < 5000)
    await Promise.all([alice.close(), bob.close()])
  })
})

describe('the shipped Janus config', () => {
  it('carries the placeholder api_secret that RingKit refuses, also when started as a library', async () => {
    const jcfg = readFileSync(new URL('../janus/janus.jcfg', import.meta.url), 'utf8')
    assert.equal(/^\s*api_secret = "(.*)"/m.exec(jcfg)?.[1], PLACEHOLDER_JANUS_SECRET)
    const dataDir = join(scratch, 'library')
    await assert.rejects(
      startServer({ dataDir, janus: { urls: ['ws://127.0.0.1:1'], apiSecret: PLACEHOLDER_JANUS_SECRET } }),
      /placeholder/,
    )
    assert.equal(existsSync(dataDir), false)
  })
})
