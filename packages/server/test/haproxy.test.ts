import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RECORD_STATUS } from '@ringkit/protocol'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { CLI } from './cli-process.ts'
import { haproxySuite, SHIPPED_HAPROXY_CONFIG } from './cluster.ts'
import { freePort } from './services.ts'
import type { TestPostgres } from './postgres.ts'
import { redisScope, type RedisScope } from './redis.ts'
import { rest, signedHeaders, TestDevice, waitFor, type ServerTarget } from './support.ts'

const NODES = ['node1', 'node2', 'node3'] as const

const { haproxy, postgres, redis, skip, children } = await haproxySuite()

interface Proc {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

function spawnProc(command: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

/** One `ringkit serve` of the cluster, on a port of its own, resolved once it serves. */
async function startNode(
  name: string,
  env: Record<string, string>,
  cluster: string[],
): Promise<Proc & { port: number }> {
  const port = await freePort()
  const node = spawnProc(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--no-demo', ...cluster],
    { ...env, RINGKIT_NODE_ID: name, RINGKIT_LOG_LEVEL: 'warn', RINGKIT_DATA_DIR: join(scratch, name) },
  )
  await waitFor(
    `${name} serving`,
    () => /RingKit is serving at/.test(node.output()) || node.child.exitCode !== null,
    30_000,
  )
  if (node.child.exitCode !== null) throw new Error(`${name} exited: ${node.output()}`)
  return Object.assign(node, { port })
}

/** `show stat` on HAProxy's admin socket: each server of the backend with its status and open sessions. */
async function serverStats(socketPath: string): Promise<Map<string, { status: string; sessions: number }>> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(socketPath)
    let out = ''
    socket.on('data', (chunk: Buffer) => (out += chunk.toString()))
    socket.on('end', () => resolve(out))
    socket.on('error', reject)
    socket.write('show stat\n')
  })
  const [header = '', ...rows] = text.trim().split('\n')
  const columns = header.replace(/^# /, '').split(',')
  const at = (name: string) => columns.indexOf(name)
  const stats = new Map<string, { status: string; sessions: number }>()
  for (const row of rows.map((line) => line.split(','))) {
    if (row[at('pxname')] !== 'ringkit_nodes' || !NODES.includes(row[at('svname')] as (typeof NODES)[number])) continue
    stats.set(row[at('svname')]!, { status: row[at('status')]!, sessions: Number(row[at('scur')]) })
  }
  return stats
}

const scratch = mkdtempSync(join(tmpdir(), 'ringkit-haproxy-'))
const statsSocket = join(scratch, 'haproxy.sock')
const app = { appKey: 'lb-app', appSecret: randomBytes(24).toString('hex') }
const nodes = new Map<string, Proc & { port: number }>()
let lb: Proc | undefined
let scope: RedisScope | undefined
let proxyUrl = ''
let target: ServerTarget

const stats = () => serverStats(statsSocket)
const status = async (name: string) => (await stats().catch(() => undefined))?.get(name)?.status ?? 'missing'
const sessions = async (name: string) => (await stats()).get(name)?.sessions ?? 0

/** Polls HAProxy until `name`'s status matches, throwing past `timeoutMs`; resolves how long it took. */
async function until(name: string, wanted: RegExp, timeoutMs: number): Promise<number> {
  const start = Date.now()
  for (let seen = await status(name); !wanted.test(seen); seen = await status(name)) {
    if (Date.now() - start > timeoutMs) throw new Error(`${name} still ${seen} after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return Date.now() - start
}

describe('several ringkit serve nodes behind the shipped HAProxy config', { skip }, () => {
  before(async () => {
    const pg = postgres as TestPostgres
    scope = redisScope(redis.url)
    const cluster = [
      '--postgres',
      pg.url,
      '--schema',
      pg.schema(),
      '--redis',
      redis.url,
      '--redis-prefix',
      scope.prefix,
    ]
    const env = {
      RINGKIT_APP_KEY: app.appKey,
      RINGKIT_APP_SECRET: app.appSecret,
      RINGKIT_TRUSTED_PROXIES: '127.0.0.1',
    }
    // One first, so the schema is migrated once before the others start on it.
    nodes.set('node1', await startNode('node1', env, cluster))
    for (const name of ['node2', 'node3']) nodes.set(name, await startNode(name, env, cluster))
    const lbPort = await freePort()
    const addresses = Object.fromEntries(
      NODES.map((name, i) => [`RINGKIT_NODE${i + 1}`, `127.0.0.1:${nodes.get(name)!.port}`]),
    )
    lb = spawnProc(haproxy, ['-db', '-f', SHIPPED_HAPROXY_CONFIG], {
      ...addresses,
      RINGKIT_LB_BIND: `127.0.0.1:${lbPort}`,
      RINGKIT_LB_STATS: statsSocket,
    })
    proxyUrl = `http://127.0.0.1:${lbPort}`
    // Devices connect through HAProxy; the app backend asks node1 (which stays up) for their tokens,
    // so that round robin hands out the signaling sockets alone, evenly.
    const node1 = `http://127.0.0.1:${nodes.get('node1')!.port}`
    target = {
      url: proxyUrl,
      app: { ...app, name: 'default', multiDevice: true, createdAt: 0 },
      rest: rest(node1, app),
    }
    // Every node passing its check before the tests start.
    for (const name of NODES) {
      await until(name, /^UP$/, 15_000).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${lb!.output()}`)
      })
    }
  })

  after(async () => {
    await TestDevice.closeAll()
    for (const child of children) child.kill('SIGKILL')
    await scope?.drop()
    if (!('skip' in postgres)) await postgres.dropSchemas()
    rmSync(scratch, { recursive: true, force: true })
  })

  it('spreads REST over every node, and a Nonce spent through one node is refused by the next', async () => {
    const served = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${proxyUrl}/v1/accounts`, {
        method: 'POST',
        headers: { ...signedHeaders(app), 'content-type': 'application/json' },
        body: JSON.stringify({ accid: `spread-${i}` }),
      })
      assert.equal(res.status, 201, await res.text())
      served.add(res.headers.get('x-served-by') ?? '')
    }
    assert.deepEqual([...served].sort(), [...NODES])

    const headers = { ...signedHeaders(app), 'content-type': 'application/json' }
    const body = JSON.stringify({ accid: 'nonce-once' })
    const first = await fetch(`${proxyUrl}/v1/accounts`, { method: 'POST', headers, body })
    const again = await fetch(`${proxyUrl}/v1/accounts`, { method: 'POST', headers, body })
    assert.equal(first.status, 201)
    assert.notEqual(again.headers.get('x-served-by'), first.headers.get('x-served-by'), 'round robin: another node')
    assert.equal(again.status, 401)
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'NONCE_REUSED')
  })

  it('upgrades WebSockets: devices log in through HAProxy, round robin puts two on each node', async () => {
    const devices = await loginAll('ws', 6)
    const open = await stats()
    for (const name of NODES) assert.equal(open.get(name)?.sessions, 2, `${name}'s signaling sockets`)
    await logOut(devices)
  })

  it('SIGTERM: the draining node hands every session on, HAProxy marks it down, and a call in progress goes on through the other nodes after it exits', async () => {
    const devices = await loginAll('drain', 9)
    const onNode2 = devices.filter((device) => placed.get(device) === 'node2')
    assert.equal(onNode2.length, 3)
    const [caller, callee] = onNode2 as [TestDevice, TestDevice, TestDevice]
    const call = await caller.kit.call({ to: callee.accid, type: 'audio' })
    await (await callee.next('invited')).call.accept()
    await caller.next('userAccept')

    const node = nodes.get('node2')!
    const signaled = Date.now()
    node.child.kill('SIGTERM')
    const downMs = await until('node2', /^DOWN/, 5000)
    // Each device of node2, the two in the call too, takes its session along to another node.
    for (const device of onNode2) {
      assert.match((await device.next('disconnect')).reason, /moving to another/)
      assert.equal((await device.next('reconnected', undefined, 10_000)).resumed, true, `${device.accid}'s session`)
    }
    const moved = devices.filter((device) => device.names().includes('disconnect'))
    assert.deepEqual(moved, onNode2, 'only the devices of node2 were asked to move')
    assert.equal(await node.exited, 0)
    const exitMs = Date.now() - signaled
    assert.ok(exitMs < 30_000, `exited after ${exitMs} ms`)

    // The node is gone and the call goes on: its end and its record reach both ends, once each.
    assert.equal(call.status, 'connected')
    await call.hangup()
    for (const device of [caller, callee]) {
      assert.equal((await device.next('record')).status, RECORD_STATUS.completed)
      assert.equal(device.names().filter((name) => name === 'record').length, 1)
    }
    assert.equal(callee.names().filter((name) => name === 'callEnd').length, 1)

    const newcomers = await loginAll('after-drain', 4)
    const open = await stats()
    assert.equal(open.get('node2')?.sessions, 0)
    assert.equal(
      (open.get('node1')?.sessions ?? 0) + (open.get('node3')?.sessions ?? 0),
      devices.length + newcomers.length,
    )
    console.log(`drain: node2 marked down after ${downMs} ms, exited after ${exitMs} ms, its call going on`)
    await logOut([...devices, ...newcomers])
  })

  it('kill -9: HAProxy marks the dead node down, its devices resume their sessions and new logins land on the node left', async () => {
    assert.equal(await status('node2'), 'DOWN', 'drained by the test before')
    const devices = await loginAll('kill', 4)
    assert.equal(await sessions('node3'), 2)
    nodes.get('node3')!.child.kill('SIGKILL')
    const downMs = await until('node3', /^DOWN/, 5000)
    const dropped = devices.filter((device) => device.names().includes('disconnect'))
    assert.equal(dropped.length, 2)
    // What the dead node had not numbered is still in its inbox: each device resumes its session.
    for (const device of dropped) {
      assert.equal((await device.next('reconnected', undefined, 10_000)).resumed, true)
      await device.kit.getCallHistory({ limit: 1 })
    }
    const newcomers = await loginAll('after-kill', 3)
    assert.equal(await sessions('node1'), devices.length + newcomers.length)
    assert.equal((await rest(proxyUrl, app)('GET', '/v1/accounts/kill-0')).status, 200, 'REST through HAProxy')
    console.log(`kill -9: node3 marked down after ${downMs} ms, ${dropped.length} devices moved to node1`)
    await logOut([...devices, ...newcomers])
  })
})

/** Devices logged in one after another through HAProxy, so that round robin deals them out in turn. */
async function loginAll(prefix: string, count: number): Promise<TestDevice[]> {
  const devices: TestDevice[] = []
  for (let i = 0; i < count; i++) {
    const before = await stats()
    const device = await TestDevice.online(target, `${prefix}-${i}`)
    const after = await stats()
    const node = NODES.find((name) => (after.get(name)?.sessions ?? 0) > (before.get(name)?.sessions ?? 0))
    if (node) placed.set(device, node)
    devices.push(device)
  }
  return devices
}

/** The node each device's signaling socket went to, from HAProxy's counts around its login. */
const placed = new WeakMap<TestDevice, string>()

/** Logs the devices out and waits until HAProxy holds no tunnel to any node, so the next test counts from zero. */
async function logOut(devices: TestDevice[]): Promise<void> {
  await Promise.all(devices.map((device) => device.close()))
  const deadline = Date.now() + 5000
  for (;;) {
    const open = [...(await stats()).values()].reduce((sum, server) => sum + server.sessions, 0)
    if (open === 0) return
    if (Date.now() > deadline) throw new Error(`${open} tunnels still open 5 s after every device logged out`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
