import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

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
