import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'

/**
 * Outside programs some suites need. On a developer's machine without one, the suite skips with a
 * line naming what to install; with RINGKIT_REQUIRE_ALL=1 (CI) a missing one fails instead.
 */
export function findProgram(envVar: string, candidates: string[], install: string): string | { skip: string } {
  const configured = process.env[envVar]
  for (const path of configured ? [configured] : candidates) if (existsSync(path)) return path
  const why = `${candidates[0]} not found: ${install} (or set ${envVar})`
  if (process.env.RINGKIT_REQUIRE_ALL === '1') throw new Error(`required for this suite: ${why}`)
  return { skip: why }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface Turn {
  url: string
  secret: string
  /** Kills the server, as a network outage would. */
  stop(): Promise<void>
  /** Starts it again on the same port and secret. */
  restart(): Promise<void>
}

/** A real coturn on loopback with TURN REST credentials (`use-auth-secret`). */
export async function startTurn(binary: string): Promise<Turn> {
  const port = await freePort()
  const secret = randomBytes(16).toString('hex')
  const dir = mkdtempSync(join(tmpdir(), 'ringkit-turn-'))
  const minPort = 40000 + Math.floor(Math.random() * 20000)
  let child = await runTurn(binary, port, secret, dir, minPort)
  return {
    url: `turn:127.0.0.1:${port}?transport=udp`,
    secret,
    async stop() {
      await kill(child)
      rmSync(dir, { recursive: true, force: true })
    },
    async restart() {
      await kill(child)
      child = await runTurn(binary, port, secret, dir, minPort)
    },
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
}

async function runTurn(
  binary: string,
  port: number,
  secret: string,
  dir: string,
  minPort: number,
): Promise<ChildProcess> {
  const child: ChildProcess = spawn(
    binary,
    [
      '-n',
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      `--min-port=${minPort}`,
      `--max-port=${minPort + 200}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=ringkit',
      '--no-tls',
      '--no-dtls',
      '--no-cli',
      '--allow-loopback-peers',
      '--log-file=stdout',
      '--simple-log',
      `--pidfile=${join(dir, 'turn.pid')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const deadline = Date.now() + 10_000
  while (!/listener opened on|Total General servers/i.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`coturn did not start:\n${log.slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return child
}

export interface Janus {
  /** The Janus API over WebSocket, on loopback. */
  url: string
  apiSecret: string
  /** The Janus process, for CPU readings. */
  pid: number | undefined
  /** SIGKILLs Janus, as a crash would; its WebSocket clients see the connection drop. */
  kill(): Promise<void>
  /** SIGSTOPs Janus: its sockets stay open but nothing answers, as with a hung process. */
  freeze(): Promise<void>
  /** Kills it if running and removes its config folder. */
  stop(): Promise<void>
}

/** The Janus configuration the repository ships, which these tests must start unchanged. */
const SHIPPED_JANUS_CONFIG = new URL('../janus/', import.meta.url)

/** Janus processes still running, killed if the test process exits without stopping them. */
const runningJanus = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of runningJanus) child.kill('SIGKILL')
})

/**
 * A real Janus on a free loopback port, with the shipped config except for the port and the API
 * secret (random unless given, so several Janus can share one for a pool).
 */
export async function startJanus(binary: string, { apiSecret = randomBytes(16).toString('hex') } = {}): Promise<Janus> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ringkit-janus-'))
  for (const name of readdirSync(SHIPPED_JANUS_CONFIG)) {
    const text = readFileSync(new URL(name, SHIPPED_JANUS_CONFIG), 'utf8')
      .replace(/^(\s*ws_port = )\d+/m, `$1${port}`)
      .replace(/^(\s*api_secret = )".*"/m, `$1"${apiSecret}"`)
    writeFileSync(join(dir, name), text)
  }
  const url = `ws://127.0.0.1:${port}`
  const child: ChildProcess = spawn(binary, ['-F', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  runningJanus.add(child)
  child.once('exit', () => runningJanus.delete(child))
  let log = ''
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const stop = async () => {
    await kill(child)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForWebSocket(url, child, 10_000)
  } catch (error) {
    await stop()
    throw new Error(`Janus did not start: ${String(error)}\n${log.slice(-2000)}`)
  }
  return { url, apiSecret, pid: child.pid, kill: async () => kill(child), freeze: async () => freeze(child), stop }
}

/**
 * SIGSTOPs the process, resolving once it is stopped. A signal is delivered when the process next
 * runs: until the kernel says it is stopped, a request sent now could still be answered by one of its threads.
 */
export async function freeze(child: ChildProcess): Promise<void> {
  child.kill('SIGSTOP')
  const stat = `/proc/${child.pid}/stat`
  for (let tries = 0; tries < 250; tries++) {
    // The state follows the command name in parentheses: T when stopped.
    if (/\) T /.test(readFileSync(stat, 'utf8'))) return
    await new Promise((resolve) => setTimeout(resolve, 4))
  }
  throw new Error(`pid ${child.pid} did not stop within 1 s of SIGSTOP`)
}

/** Resolves once a WebSocket with Janus's subprotocol opens at `url`. */
async function waitForWebSocket(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('the process exited')
    if (Date.now() > deadline) throw new Error(`no WebSocket at ${url} within ${timeoutMs} ms`)
    const opened = await new Promise<boolean>((resolve) => {
      const socket = new WebSocket(url, 'janus-protocol')
      socket.once('open', () => {
        socket.close()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (opened) return
    await new Promise((r) => setTimeout(r, 50))
  }
}
