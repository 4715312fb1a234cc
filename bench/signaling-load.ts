/**
 * What bench/signaling and bench/cluster share: RingKit (or the bare relay) in a process of its
 * own, raw WebSocket clients that speak the protocol, and the open-loop invite load.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import WebSocket from 'ws'
import { createToken } from '../packages/server/src/index.ts'

export type Kind = 'ringkit' | 'baseline'
export type Frame = {
  type: string
  id?: string
  seq?: number
  name?: string
  data?: { callId?: string; expiresAt?: number }
  from?: string
  result?: { callId?: string; sessionId?: string; resumed?: boolean }
  error?: { code?: string }
}

export interface Target {
  kind: Kind
  url: string
  appKey: string
  appSecret: string
  /** The server's process, for its CPU in /proc and for `kill -9`. */
  pid: number
  rpc(op: 'memory'): Promise<{ rss: number; heapUsed: number; held: number }>
  rpc(op: 'delay'): Promise<ServerLoop>
  rpc(op: 'seed' | 'records', prefix: string, count: number): Promise<unknown>
  /** Closes the server and resolves once its process has exited. */
  stop(): Promise<void>
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>
}

/** Starts a server process; `env` reaches signaling-server.ts (cluster options, heartbeat). */
export async function start(kind: Kind, env: Record<string, string> = {}): Promise<Target> {
  const child: ChildProcess = fork(new URL('./signaling-server.ts', import.meta.url).pathname, [kind], {
    execArgv: [
      '--expose-gc',
      '--import',
      'tsx',
      ...(process.env.PROFILE === kind ? ['--cpu-prof', '--cpu-prof-dir=bench/results'] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  })
  const ready = await new Promise<{ port: number; appKey?: string; appSecret?: string }>((resolve) =>
    child.once('message', (m) => resolve(m as { port: number })),
  )
  let nextId = 1
  const waiting = new Map<number, (value: never) => void>()
  child.on('message', (m: { id?: number }) => {
    if (m.id !== undefined) waiting.get(m.id)?.(m as never)
  })
  return {
    kind,
    url: `ws://127.0.0.1:${ready.port}${kind === 'ringkit' ? '/v1/signal' : ''}`,
    appKey: ready.appKey ?? '',
    appSecret: ready.appSecret ?? '',
    rpc: ((op: string, prefix?: string, count?: number) =>
      new Promise((resolve) => {
        const id = nextId++
        waiting.set(id, resolve)
        child.send({ id, op, prefix, count })
      })) as Target['rpc'],
    pid: child.pid!,
    stop: () => {
      const exited = new Promise<void>((resolve) =>
        child.exitCode === null && child.signalCode === null ? child.once('exit', () => resolve()) : resolve(),
      )
      if (child.connected) child.disconnect()
      return exited
    },
    kill: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGKILL')
      }),
  }
}

/** Sockets of finished load runs, closed when their server stops. */
export const openSockets: WebSocket[] = []
let frameId = 1
export const id = () => String(frameId++)

/** A logged-in socket, with the reply to its login (the session to resume). */
export type Session = WebSocket & { login?: Frame['result'] }

/**
 * Opens a socket and logs it in as `accid`; `onFrame` hears every later frame. `login` adds to
 * the login frame (a `resume`, a `deviceId`).
 */
export async function connect(
  target: Target,
  accid: string,
  onFrame: (frame: Frame, socket: WebSocket) => void = () => {},
  acknowledge = true,
  login: Record<string, unknown> = {},
): Promise<Session> {
  const socket: Session = new WebSocket(target.url, { perMessageDeflate: false })
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  const loginId = id()
  let unacked = 0
  const loggedIn = new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame
      // Acknowledge as the SDK does, so the server can let go of delivered frames.
      if (acknowledge && target.kind === 'ringkit' && frame.seq && ++unacked >= 64) {
        unacked = 0
        socket.send(JSON.stringify({ type: 'ping', id: id(), ack: frame.seq }))
      }
      if (frame.id === loginId) {
        socket.login = frame.result
        return frame.type === 'reply' ? resolve() : reject(new Error(String(data)))
      }
      onFrame(frame, socket)
    })
  })
  if (target.kind === 'ringkit') {
    const { token } = await createToken({ appKey: target.appKey, appSecret: target.appSecret, accid })
    socket.send(
      JSON.stringify({ type: 'login', id: loginId, appKey: target.appKey, accid, token, deviceId: 'bench', ...login }),
    )
  } else {
    socket.send(JSON.stringify({ type: 'login', id: loginId, accid }))
  }
  await loggedIn
  return socket
}

export async function inBatches<T>(count: number, size: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = []
  for (let i = 0; i < count; i += size)
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, count - i) }, (_, k) => make(i + k)))))
  return out
}

/** The server process during a run: event-loop stalls and GC pauses (ms), CPU (cores busy). */
export interface ServerLoop {
  p99: number
  max: number
  gc: { count: number; total: number; max: number }
  cpu: number
}

export interface LoadResult {
  /** The callers' server; `serverLoops` has every server of the run, the callees' too. */
  serverLoop: ServerLoop
  serverLoops: ServerLoop[]
  /** From the first call to the end of the last, in seconds: what CPU is over. */
  elapsed: number
  /** How long the calls took to issue, in seconds: what `achieved` is over. */
  issuing: number
  /** CPU the load generator itself used, in cores, and its own event-loop stalls (ms). */
  loadCpu: number
  loadLoop: { p99: number; max: number }
  offered: number
  achieved: number
  latencies: number[]
  skipped: number
  errors: number
  /** How many of the errors had each code. */
  errorCodes: Record<string, number>
}

export interface LoadOptions {
  seconds: number
  pairs: number
  /** Where the callees log in: another node of the cluster; the callers' server by default. */
  callees?: Target
}

/** How long a run waits, past its last call, for its calls to end. */
const DRAIN_MS = 5000

/** `pairs` callers and callees logged in, ready to carry load runs one after the other. */
export interface Rig {
  run(rate: number, seconds: number): Promise<LoadResult>
}

/**
 * Logs the pairs in. Callers stay connected once done: closing them would put their sessions in
 * their grace period, and their expiry would land in the next run.
 */
export async function rig(target: Target, prefix: string, options: Omit<LoadOptions, 'seconds'>): Promise<Rig> {
  const { pairs, callees: calleeTarget = target } = options
  const servers = calleeTarget === target ? [target] : [target, calleeTarget]
  const sentAt = new Float64Array(pairs)
  const busy = new Uint8Array(pairs)
  // Of the run going on: an answer to a call of the run before lands in it, with its true latency.
  let latencies: number[] = []
  let errors = 0
  let errorCodes: Record<string, number> = {}
  const callers = await inBatches(pairs, 100, (i) =>
    connect(target, `${prefix}c${i}`, (frame) => {
      if (frame.type === 'error') {
        errors++
        const code = frame.error?.code ?? 'unknown'
        errorCodes[code] = (errorCodes[code] ?? 0) + 1
      }
      const ended =
        target.kind === 'ringkit' ? frame.type === 'event' && frame.name === 'record' : frame.type === 'done'
      if (ended) busy[i] = 0
    }),
  )
  openSockets.push(...callers)
  await inBatches(pairs, 100, (i) =>
    connect(calleeTarget, `${prefix}e${i}`, (frame, socket) => {
      if (target.kind === 'ringkit') {
        if (frame.type !== 'event' || frame.name !== 'invited') return
        latencies.push(performance.now() - sentAt[i]!)
        socket.send(JSON.stringify({ type: 'reject', id: id(), callId: frame.data?.callId }))
      } else if (frame.type === 'ring') {
        latencies.push(performance.now() - sentAt[i]!)
        socket.send(JSON.stringify({ type: 'done', to: frame.from }))
      }
    }),
  )
  let pair = 0
  return {
    async run(rate, seconds) {
      latencies = []
      errors = 0
      errorCodes = {}
      await Promise.all(servers.map((s) => s.rpc('delay')))
      const clientLoop = monitorEventLoopDelay({ resolution: 1 })
      clientLoop.enable()
      const clientCpu = process.cpuUsage()
      let issued = 0
      let skipped = 0
      const started = performance.now()
      const total = rate * seconds
      await new Promise<void>((resolve) => {
        const tick = setInterval(() => {
          const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate))
          for (; issued < due; issued++) {
            const i = pair++ % pairs
            if (busy[i]) {
              skipped++
              continue
            }
            busy[i] = 1
            sentAt[i] = performance.now()
            const frame =
              target.kind === 'ringkit'
                ? { type: 'call', id: id(), to: [`${prefix}e${i}`], callType: 'audio' }
                : { type: 'ring', id: id(), to: `${prefix}e${i}`, from: `${prefix}c${i}` }
            callers[i]!.send(JSON.stringify(frame))
          }
          if (issued >= total) {
            clearInterval(tick)
            resolve()
          }
        }, 1)
      })
      const issuing = (performance.now() - started) / 1000
      // Until every call of the run has ended (at most DRAIN_MS more): a server behind on its work
      // does it on this run's clock, not during the next run.
      const drainBy = performance.now() + DRAIN_MS
      while (busy.some(Boolean) && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 5))
      const elapsed = (performance.now() - started) / 1000
      const serverLoops = await Promise.all(servers.map((s) => s.rpc('delay')))
      const used = process.cpuUsage(clientCpu)
      const loadCpu = (used.user + used.system) / 1000 / (elapsed * 1000)
      clientLoop.disable()
      const loadLoop = { p99: clientLoop.percentile(99) / 1e6, max: clientLoop.max / 1e6 }
      return {
        offered: rate,
        achieved: latencies.length / issuing,
        issuing,
        latencies,
        skipped,
        errors,
        errorCodes,
        serverLoop: serverLoops[0]!,
        serverLoops,
        elapsed,
        loadCpu,
        loadLoop,
      }
    },
  }
}

/**
 * Open loop: call k is due at k / rate seconds, whatever happened to the calls before it. Each
 * pair carries one call at a time; the callee rejects (RingKit) or answers (baseline) at once.
 */
export async function load(target: Target, rate: number, prefix: string, options: LoadOptions): Promise<LoadResult> {
  return (await rig(target, prefix, options)).run(rate, options.seconds)
}

/** Server RSS and heap growth per device, after a forced GC, for `count` sockets logged in and held. */
export async function idle(
  target: Target,
  count: number,
): Promise<{ perDevice: number; heapPerDevice: number; held: number }> {
  if (target.kind === 'ringkit') await target.rpc('seed', 'idle', count)
  const before = await target.rpc('memory')
  const sockets = await inBatches(count, 250, (i) => connect(target, `idle${i}`))
  await new Promise((r) => setTimeout(r, 1000))
  const after = await target.rpc('memory')
  const held = sockets.filter((s) => s.readyState === WebSocket.OPEN).length
  for (const socket of sockets) socket.terminate()
  return {
    perDevice: (after.rss - before.rss) / count,
    heapPerDevice: (after.heapUsed - before.heapUsed) / count,
    held,
  }
}
