import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))

/** A `ringkit` process the test started, with what it printed so far. */
export interface CliRun {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

/** Runs `ringkit ARGS` from source; `children` collects it, for the suite to kill what is left. */
export function runCli(args: string[], env: Record<string, string>, children: Set<ChildProcess>): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, RINGKIT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** The URL a `ringkit serve` prints once it listens; rejects when it exits first or takes 30 s. */
export async function servingUrl(server: CliRun): Promise<string> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const match = /^RingKit is serving at (http:\/\/\S+)/m.exec(server.stdout())
    if (match) return match[1]!
    if (server.child.exitCode !== null) throw new Error(`exited ${server.child.exitCode}: ${server.stderr()}`)
    if (Date.now() > deadline) throw new Error(`no URL within 30 s: ${server.stdout()} ${server.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
