import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callIceServers } from '../src/auth/turn.ts'
import { findProgram, freePort } from './services.ts'
import { TurnClient } from './turn-client.ts'

const turnserver = findProgram('RINGKIT_TURNSERVER', ['/usr/bin/turnserver'], 'apt-get install coturn')
const SHIPPED_CONFIG = new URL('../coturn/turnserver.conf', import.meta.url)
/** Cloud metadata and a private address: what a relay must never reach from the TURN host. */
const DENIED = ['169.254.169.254', '10.0.0.1']

interface Coturn {
  port: number
  secret: string
  stop(): Promise<void>
}

/**
 * coturn on loopback with the shipped config, changed only in its ports, addresses and secret —
 * or, as the control, also without its denied-peer-ip lines. Logs go to stdout, read for startup.
 */
async function startCoturn(binary: string, { denyPeers }: { denyPeers: boolean }): Promise<Coturn> {
  const port = await freePort()
  const secret = randomBytes(16).toString('hex')
  const dir = mkdtempSync(join(tmpdir(), 'ringkit-coturn-'))
  const minPort = 40000 + Math.floor(Math.random() * 20000)
  const config = readFileSync(SHIPPED_CONFIG, 'utf8')
    .replace(/^listening-port=\d+$/m, `listening-port=${port}\nlistening-ip=127.0.0.1\nrelay-ip=127.0.0.1`)
    .replace(/^min-port=\d+$/m, `min-port=${minPort}`)
    .replace(/^max-port=\d+$/m, `max-port=${minPort + 100}`)
    .replace(/^static-auth-secret=.*$/m, `static-auth-secret=${secret}`)
    .replace(denyPeers ? /$^/ : /^denied-peer-ip=.*\n/gm, '')
  writeFileSync(join(dir, 'turnserver.conf'), config)
  const child: ChildProcess = spawn(
    binary,
    ['-c', join(dir, 'turnserver.conf'), '--log-file=stdout', '--simple-log', `--pidfile=${join(dir, 'turn.pid')}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const deadline = Date.now() + 10_000
  while (!/Total General servers/i.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`coturn did not start:\n${log.slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    port,
    secret,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGKILL')
        await new Promise((r) => child.once('exit', r))
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A relay allocated with the credentials RingKit hands a party of a call. */
async function allocated(turn: Coturn, validForSeconds = 60): Promise<TurnClient> {
  const [server] = callIceServers({ turnUrls: ['turn:127.0.0.1'], turnSecret: turn.secret }, 'alice', validForSeconds)
  const client = await TurnClient.open('127.0.0.1', turn.port)
  const answer = await client.allocate(server?.username ?? '', server?.credential ?? '')
  assert.equal(answer.status, 200, `Allocate: ${answer.status} ${answer.reason}`)
  return client
}

describe('the shipped coturn config', () => {
  let hardened: Coturn | undefined
  let control: Coturn | undefined
  const clients: TurnClient[] = []
  before(async () => {
    if (typeof turnserver !== 'string') return
    hardened = await startCoturn(turnserver, { denyPeers: true })
    control = await startCoturn(turnserver, { denyPeers: false })
  })
  after(async () => {
    for (const client of clients) client.close()
    await Promise.all([hardened?.stop(), control?.stop()])
  })

  it('refuses a relay permission to cloud metadata and private addresses with 403', async (t) => {
    if (!hardened) return t.skip(typeof turnserver === 'string' ? '' : turnserver.skip)
    const client = await allocated(hardened)
    clients.push(client)
    for (const peer of DENIED) {
      const answer = await client.createPermission(peer)
      assert.equal(answer.status, 403, `CreatePermission to ${peer}: ${answer.status} ${answer.reason}`)
    }
    // The relay still serves calls: a public peer is permitted (a permission sends it nothing).
    assert.equal((await client.createPermission('8.8.8.8')).status, 200)
  })

  it('without its denied-peer-ip lines, the same coturn grants those permissions', async (t) => {
    if (!control) return t.skip(typeof turnserver === 'string' ? '' : turnserver.skip)
    const client = await allocated(control)
    clients.push(client)
    for (const peer of DENIED) {
      const answer = await client.createPermission(peer)
      assert.equal(answer.status, 200, `CreatePermission to ${peer}: ${answer.status} ${answer.reason}`)
    }
  })

  it('refuses an allocation whose TURN REST credentials expired or were not made with its secret', async (t) => {
    if (!hardened) return t.skip(typeof turnserver === 'string' ? '' : turnserver.skip)
    const expired = callIceServers({ turnUrls: ['turn:x'], turnSecret: hardened.secret }, 'alice', -60)[0]
    const forged = callIceServers({ turnUrls: ['turn:x'], turnSecret: 'not-the-secret' }, 'alice', 60)[0]
    for (const credentials of [expired, forged]) {
      const client = await TurnClient.open('127.0.0.1', hardened.port)
      clients.push(client)
      const answer = await client.allocate(credentials?.username ?? '', credentials?.credential ?? '')
      assert.equal(answer.status, 401, `Allocate as ${credentials?.username}: ${answer.status} ${answer.reason}`)
    }
  })
})
