/**
 * Signaling benchmark: invite → `invited` latency under open-loop load, and the memory an idle
 * logged-in device costs the server, for RingKit and for a bare `ws` relay measured the same way
 * in the same run. Each server runs in its own process. Run: npx tsx bench/signaling.ts
 * Options (env): RATES=200,1000  SECONDS=6  PAIRS=600  IDLE=10000
 */
import { fork, type ChildProcess } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import WebSocket from 'ws'
import type { Socket } from 'node:net'
import { createToken, DEFAULT_LIMITS } from '../packages/server/src/index.ts'
import { pct } from './percentile.ts'

const RATES = (process.env.RATES ?? '200,1000').split(',').map(Number)
const SECONDS = Number(process.env.SECONDS ?? 6)
const PAIRS = Number(process.env.PAIRS ?? 600)
const IDLE = Number(process.env.IDLE ?? 10_000)

type Kind = 'ringkit' | 'baseline'
type Frame = {
  type: string
  id?: string
  name?: string
  data?: { callId?: string }
  from?: string
  result?: { callId?: string }
}

interface Target {
  kind: Kind
  url: string
  appKey: string
  appSecret: string
  rpc(op: 'memory'): Promise<{ rss: number; heapUsed: number; held: number }>
  rpc(op: 'delay'): Promise<ServerLoop>
  rpc(op: 'seed' | 'records', prefix: string, count: number): Promise<unknown>
  stop(): void
}

async function start(kind: Kind, env: Record<string, string> = {}): Promise<Target> {
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
    stop: () => child.disconnect(),
  }
}

/** Sockets of finished load runs, closed when their server stops. */
const openSockets: WebSocket[] = []
let frameId = 1
const id = () => String(frameId++)

/** Opens a socket and logs it in as `accid`; `onFrame` hears every later frame. */
async function connect(
  target: Target,
  accid: string,
  onFrame: (frame: Frame, socket: WebSocket) => void = () => {},
  acknowledge = true,
): Promise<WebSocket> {
  const socket = new WebSocket(target.url, { perMessageDeflate: false })
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  const loginId = id()
  let unacked = 0
  const loggedIn = new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame & { seq?: number }
      // Acknowledge as the SDK does, so the server can let go of delivered frames.
      if (acknowledge && target.kind === 'ringkit' && frame.seq && ++unacked >= 64) {
        unacked = 0
        socket.send(JSON.stringify({ type: 'ping', id: id(), ack: frame.seq }))
      }
      if (frame.id === loginId) return frame.type === 'reply' ? resolve() : reject(new Error(String(data)))
      onFrame(frame, socket)
    })
  })
  if (target.kind === 'ringkit') {
    const { token } = await createToken({ appKey: target.appKey, appSecret: target.appSecret, accid })
    socket.send(JSON.stringify({ type: 'login', id: loginId, appKey: target.appKey, accid, token, deviceId: 'bench' }))
  } else {
    socket.send(JSON.stringify({ type: 'login', id: loginId, accid }))
  }
  await loggedIn
  return socket
}

async function inBatches<T>(count: number, size: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = []
  for (let i = 0; i < count; i += size)
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, count - i) }, (_, k) => make(i + k)))))
  return out
}

/** The server process during a run: event-loop stalls and GC pauses (ms), CPU (cores busy). */
interface ServerLoop {
  p99: number
  max: number
  gc: { count: number; total: number; max: number }
  cpu: number
}

interface LoadResult {
  serverLoop: ServerLoop
  /** CPU the load generator itself used, in cores, and its own event-loop stalls (ms). */
  loadCpu: number
  loadLoop: { p99: number; max: number }
  offered: number
  achieved: number
  latencies: number[]
  skipped: number
  errors: number
}

/**
 * Open loop: call k is due at k / rate seconds, whatever happened to the calls before it. Each
 * pair carries one call at a time; the callee rejects (RingKit) or answers (baseline) at once.
 */
async function load(target: Target, rate: number, prefix: string): Promise<LoadResult> {
  const sentAt = new Float64Array(PAIRS)
  const busy = new Uint8Array(PAIRS)
  const latencies: number[] = []
  let errors = 0
  const callers = await inBatches(PAIRS, 100, (i) =>
    connect(target, `${prefix}c${i}`, (frame) => {
      if (frame.type === 'error') errors++
      const ended =
        target.kind === 'ringkit' ? frame.type === 'event' && frame.name === 'record' : frame.type === 'done'
      if (ended) busy[i] = 0
    }),
  )
  await inBatches(PAIRS, 100, (i) =>
    connect(target, `${prefix}e${i}`, (frame, socket) => {
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
  await target.rpc('delay')
  const clientLoop = monitorEventLoopDelay({ resolution: 1 })
  clientLoop.enable()
  const clientCpu = process.cpuUsage()
  let issued = 0
  let skipped = 0
  let pair = 0
  const started = performance.now()
  const total = rate * SECONDS
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate))
      for (; issued < due; issued++) {
        const i = pair++ % PAIRS
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
  const elapsed = (performance.now() - started) / 1000
  const serverLoop = await target.rpc('delay')
  const used = process.cpuUsage(clientCpu)
  const loadCpu = (used.user + used.system) / 1000 / (elapsed * 1000)
  clientLoop.disable()
  const loadLoop = { p99: clientLoop.percentile(99) / 1e6, max: clientLoop.max / 1e6 }
  await new Promise((r) => setTimeout(r, 500))
  // Callers stay connected: closing them would put 600 sessions in their grace period, and
  // their expiry would land in the next run.
  openSockets.push(...callers)
  return {
    offered: rate,
    achieved: latencies.length / elapsed,
    latencies,
    skipped,
    errors,
    serverLoop,
    loadCpu,
    loadLoop,
  }
}

async function idle(target: Target): Promise<{ perDevice: number; heapPerDevice: number; held: number }> {
  if (target.kind === 'ringkit') await target.rpc('seed', 'idle', IDLE)
  const before = await target.rpc('memory')
  const sockets = await inBatches(IDLE, 250, (i) => connect(target, `idle${i}`))
  await new Promise((r) => setTimeout(r, 1000))
  const after = await target.rpc('memory')
  const held = sockets.filter((s) => s.readyState === WebSocket.OPEN).length
  for (const socket of sockets) socket.terminate()
  return { perDevice: (after.rss - before.rss) / IDLE, heapPerDevice: (after.heapUsed - before.heapUsed) / IDLE, held }
}

/** What one hostile socket can make the server hold, at most: its outbox plus its unwritten frames. */
const HOSTILE_CAP = DEFAULT_LIMITS.outbox.bytes + DEFAULT_LIMITS.slowReader.bufferedBytes

/**
 * The most memory one hostile socket pins: it logs in as an account with 100 records as large as
 * records get, never acknowledges, and either reads (asking for every page it may, and sending junk
 * that is answered) or stops reading (so the server's write buffer fills). The server's heap plus
 * its unwritten buffers, after a forced GC, with the socket still open, against before it came.
 */
async function hostile(): Promise<{ reading: number; stalled: number }> {
  // Each on a server process of its own, so that nothing else is freed or allocated meanwhile.
  const pinned = async (stall: boolean) => {
    const target = await start('ringkit', { HEARTBEAT_MS: '600000' })
    await target.rpc('records', 'hoarder', 100)
    const before = await target.rpc('memory')
    const socket = await connect(target, 'hoarder', () => {}, false)
    if (stall) (socket as unknown as { _socket: Socket })._socket.pause()
    // More than the history budget allows, and more junk with ids than the outbox keeps frames.
    for (let i = 0; i < 60; i++) socket.send(JSON.stringify({ type: 'history', id: id(), limit: 100 }))
    for (let i = 0; i < 1000; i++) socket.send(JSON.stringify({ type: 'nonsense', id: id() }))
    // Sampled while the server works through it all and after: the most held at any sample counts.
    let most = 0
    for (const ms of [250, 500, 1000, 2000, 4000]) {
      await new Promise((r) => setTimeout(r, ms))
      most = Math.max(most, (await target.rpc('memory')).held - before.held)
    }
    socket.terminate()
    target.stop()
    return most
  }
  const reading = await pinned(false)
  const stalled = await pinned(true)
  return { reading, stalled }
}

async function main() {
  const results: Record<Kind, { loads: LoadResult[]; idle: Awaited<ReturnType<typeof idle>> }> = {} as never
  let pinned = { reading: 0, stalled: 0 }
  for (const kind of ['baseline', 'ringkit'] as const) {
    // Idle memory on a process of its own: a fresh heap, and no load run sharing it.
    const idleTarget = await start(kind)
    const held = await idle(idleTarget).finally(() => idleTarget.stop())
    if (kind === 'ringkit') pinned = await hostile()
    const target = await start(kind)
    try {
      const loads: LoadResult[] = []
      for (const [n, rate] of RATES.entries()) {
        if (kind === 'ringkit') {
          await target.rpc('seed', `r${n}c`, PAIRS)
          await target.rpc('seed', `r${n}e`, PAIRS)
        }
        // A short warm-up lets the JIT settle before the measured run.
        if (n === 0) await load(target, Math.min(rate, 200), `r${n}`)
        loads.push(await load(target, rate, `r${n}`))
      }
      results[kind] = { loads, idle: held }
    } finally {
      target.stop()
      for (const socket of openSockets.splice(0)) socket.terminate()
    }
  }
  const ms = (v: number) => v.toFixed(2)
  console.log(`\n## bench/signaling — ${SECONDS} s per rate, ${PAIRS} caller/callee pairs, ${IDLE} idle devices\n`)
  console.log(
    '| offered calls/s | system | achieved/s | p50 ms | p90 ms | p99 ms | max ms | p99 vs baseline | server CPU (cores) | server loop stall p99 / max ms | server GC max ms | load generator CPU | load generator loop stall p99 / max ms | skipped | errors |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const [n, rate] of RATES.entries()) {
    const base = results.baseline.loads[n]!
    for (const kind of ['baseline', 'ringkit'] as const) {
      const r = results[kind].loads[n]!
      const l = r.latencies
      console.log(
        `| ${rate} | ${kind === 'ringkit' ? 'RingKit invite → invited' : 'raw ws relay'} | ${r.achieved.toFixed(0)} | ${ms(pct(l, 50))} | ${ms(pct(l, 90))} | ${ms(pct(l, 99))} | ${ms(Math.max(...l))} | ${(pct(l, 99) / pct(base.latencies, 99)).toFixed(2)}× | ${r.serverLoop.cpu.toFixed(2)} | ${ms(r.serverLoop.p99)} / ${ms(r.serverLoop.max)} | ${ms(r.serverLoop.gc.max)} | ${r.loadCpu.toFixed(2)} | ${ms(r.loadLoop.p99)} / ${ms(r.loadLoop.max)} | ${r.skipped} | ${r.errors} |`,
      )
    }
  }
  console.log('\n| idle devices | system | held | server RSS per device | heap per device |')
  console.log('|---|---|---|---|---|')
  for (const kind of ['baseline', 'ringkit'] as const) {
    const i = results[kind].idle
    console.log(
      `| ${IDLE} | ${kind === 'ringkit' ? 'RingKit (logged in)' : 'raw ws relay'} | ${i.held} | ${(i.perDevice / 1024).toFixed(1)} KB | ${(i.heapPerDevice / 1024).toFixed(1)} KB |`,
    )
  }
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
  const most = Math.max(pinned.reading, pinned.stalled)
  console.log(
    '\n| one hostile socket | server heap + unwritten buffers pinned | cap (outbox + slow-reader threshold) |',
  )
  console.log('|---|---|---|')
  console.log(`| reads, never acknowledges | ${mib(pinned.reading)} | ${mib(HOSTILE_CAP)} |`)
  console.log(`| stops reading | ${mib(pinned.stalled)} | ${mib(HOSTILE_CAP)} |`)
  const top = results.ringkit.loads.at(-1)!
  const p99 = pct(top.latencies, 99)
  const kb = results.ringkit.idle.perDevice / 1024
  console.log(
    `\nTargets: invite p99 ≤ 5 ms at ${RATES.at(-1)} calls/s — ${p99 <= 5 ? 'PASS' : 'FAIL'} (${ms(p99)} ms); ≤ 30 KB per idle device — ${kb <= 30 ? 'PASS' : 'FAIL'} (${kb.toFixed(1)} KB); one hostile socket pins ≤ ${mib(HOSTILE_CAP)} — ${most <= HOSTILE_CAP ? 'PASS' : 'FAIL'} (${mib(most)})`,
  )
}

await main()
process.exit(0)
