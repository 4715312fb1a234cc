/**
 * Cluster benchmark: invite → `invited` latency and server CPU per call on one node against two
 * nodes with the caller and the callee on different nodes, the time from `kill -9` of a node to
 * its devices' next event, and the memory an idle device costs a node in cluster mode. Each node
 * is a process of its own on the real PostgreSQL and Redis, with a schema and a key prefix of the
 * run's own, dropped at the end. Run: npx tsx bench/cluster.ts
 * Options (env): RATES=200,1000  SECONDS=5 (one-second slices per setup and rate)  PAIRS=600  IDLE=2000  FAILOVER=50
 */
import { cpus, loadavg } from 'node:os'
import { testPostgres } from '../packages/server/test/postgres.ts'
import { redisScope, testRedis, type RedisScope } from '../packages/server/test/redis.ts'
import { pct } from './percentile.ts'
import {
  connect,
  idle,
  inBatches,
  openSockets,
  rig,
  start,
  type Frame,
  type LoadResult,
  type Rig,
  type Session,
  type Target,
} from './signaling-load.ts'

const RATES = (process.env.RATES ?? '200,1000').split(',').map(Number)
const SECONDS = Number(process.env.SECONDS ?? 5)
const PAIRS = Number(process.env.PAIRS ?? 600)
const IDLE = Number(process.env.IDLE ?? 2000)
const FAILOVER = Number(process.env.FAILOVER ?? 50)
/** How long the failover calls ring: long enough for every callee to be rung before the kill. */
const FAILOVER_RING_MS = 3000

const postgres = await testPostgres()
const redis = await testRedis()
if ('skip' in postgres) throw new Error(`bench/cluster needs PostgreSQL: ${postgres.skip}`)
if (redis.skip) throw new Error(`bench/cluster needs Redis: ${redis.skip}`)
const scopes: RedisScope[] = []

type Setup = 'sqlite' | 'one node' | 'two nodes'
const SETUPS: Record<Setup, string> = {
  sqlite: 'one node, SQLite (embedded default)',
  'one node': 'one node, cluster mode (PostgreSQL + Redis)',
  'two nodes': 'two nodes, caller on A, callee on B',
}

/** Nodes of a fresh cluster (a schema and a prefix of their own), started one after the other. */
async function startCluster(names: string[]): Promise<Target[]> {
  if ('skip' in postgres) return []
  const schema = postgres.schema()
  const scope = redisScope(redis.url)
  scopes.push(scope)
  const nodes: Target[] = []
  // The first makes the schema and the default app; the others find them.
  for (const name of names) {
    nodes.push(
      await start('ringkit', {
        BENCH_POSTGRES_URL: postgres.url,
        BENCH_PG_SCHEMA: schema,
        BENCH_REDIS_URL: redis.url,
        BENCH_REDIS_PREFIX: scope.prefix,
        BENCH_NODE_ID: name,
      }),
    )
  }
  return nodes
}

const startSetup = (setup: Setup) =>
  setup === 'sqlite' ? start('ringkit').then((t) => [t]) : startCluster(setup === 'two nodes' ? ['a', 'b'] : ['a'])

const ORDER = ['sqlite', 'one node', 'two nodes'] as const

/**
 * Runs every rate against every setup, all alive at once: callers on a setup's first node, callees
 * on its last. Each rate's run is cut in one-second slices taken from the setups in turn, so that
 * the work the machine does meanwhile falls on each setup alike.
 */
async function loads(setups: Record<Setup, Target[]>): Promise<Record<Setup, LoadResult[]>> {
  const results = { sqlite: [], 'one node': [], 'two nodes': [] } as Record<Setup, LoadResult[]>
  for (const [n, rate] of RATES.entries()) {
    const rigs = {} as Record<Setup, Rig>
    for (const setup of ORDER) {
      const nodes = setups[setup]
      await nodes[0]!.rpc('seed', `r${n}c`, PAIRS)
      await nodes[0]!.rpc('seed', `r${n}e`, PAIRS)
      rigs[setup] = await rig(nodes[0]!, `r${n}`, { pairs: PAIRS, callees: nodes.at(-1)! })
      // A short warm-up lets the JIT settle before the measured runs.
      if (n === 0) await rigs[setup].run(Math.min(rate, 200), 2)
    }
    const slices = { sqlite: [], 'one node': [], 'two nodes': [] } as Record<Setup, LoadResult[]>
    for (let second = 0; second < SECONDS; second++)
      for (const setup of ORDER) slices[setup].push(await rigs[setup].run(rate, 1))
    for (const setup of ORDER) results[setup].push(merge(slices[setup]))
  }
  return results
}

/** One run made of `slices`: CPU and rates weighted by how long each slice took. */
function merge(slices: LoadResult[]): LoadResult {
  const sum = (values: number[]) => values.reduce((x, y) => x + y, 0)
  const elapsed = sum(slices.map((s) => s.elapsed))
  const mean = (of: (s: LoadResult) => number) => sum(slices.map((s) => of(s) * s.elapsed)) / elapsed
  const most = (of: (s: LoadResult) => number) => Math.max(...slices.map(of))
  const latencies = slices.flatMap((s) => s.latencies)
  const serverLoops = slices[0]!.serverLoops.map((_, k) => ({
    p99: most((s) => s.serverLoops[k]!.p99),
    max: most((s) => s.serverLoops[k]!.max),
    gc: {
      count: sum(slices.map((s) => s.serverLoops[k]!.gc.count)),
      total: sum(slices.map((s) => s.serverLoops[k]!.gc.total)),
      max: most((s) => s.serverLoops[k]!.gc.max),
    },
    cpu: mean((s) => s.serverLoops[k]!.cpu),
  }))
  return {
    offered: slices[0]!.offered,
    achieved: latencies.length / sum(slices.map((s) => s.issuing)),
    issuing: sum(slices.map((s) => s.issuing)),
    latencies,
    skipped: sum(slices.map((s) => s.skipped)),
    errors: sum(slices.map((s) => s.errors)),
    errorCodes: slices.reduce<Record<string, number>>((all, s) => {
      for (const [code, n] of Object.entries(s.errorCodes)) all[code] = (all[code] ?? 0) + n
      return all
    }, {}),
    serverLoop: serverLoops[0]!,
    serverLoops,
    elapsed,
    loadCpu: mean((s) => s.loadCpu),
    loadLoop: { p99: most((s) => s.loadLoop.p99), max: most((s) => s.loadLoop.max) },
  }
}

interface Ringing {
  /** From the mark (100 ms before the first ring deadline; the kill) → each callee (on B) hears callEnd, ms. */
  calleeEnd: number[]
  /** How late that end came after the call's ring deadline, ms. */
  lateness: number[]
  /** After the kill: from the mark → each caller is logged in again on B, ms. */
  callerOnB: number[]
  /** From the mark → each caller hears its call end, ms. */
  callerEnd: number[]
  /** Callers whose session on A resumed on B, as against logging in anew. */
  resumedSessions: number
  count: number
}

/**
 * `count` calls ring from callers on A to callees on B until their ring deadline. With `kill`, A is
 * killed with SIGKILL 100 ms before the first deadline, so B has to see that A is gone and end its
 * calls; each caller's socket closes with A and resumes its session on B at once, as the SDK does
 * with a list of servers. Without, the same calls time out on a live cluster: the baseline.
 */
async function ringing(a: Target, b: Target, count: number, prefix: string, kill: boolean): Promise<Ringing> {
  await a.rpc('seed', `${prefix}c`, count)
  await a.rpc('seed', `${prefix}e`, count)
  const expiresAt = new Float64Array(count)
  const calleeEndAt = new Float64Array(count)
  const callerEndAt = new Float64Array(count)
  const onBAt = new Float64Array(count)
  const lastSeq = new Float64Array(count)
  let resumedSessions = 0
  const onCallee = (i: number) => (frame: Frame) => {
    if (frame.type !== 'event') return
    if (frame.name === 'invited') expiresAt[i] = Number(frame.data?.expiresAt)
    if (frame.name === 'callEnd' && !calleeEndAt[i]) calleeEndAt[i] = Date.now()
  }
  const onCaller = (i: number) => (frame: Frame) => {
    if (frame.seq) lastSeq[i] = Math.max(lastSeq[i]!, frame.seq)
    if (frame.type === 'event' && frame.name === 'callEnd' && !callerEndAt[i]) callerEndAt[i] = Date.now()
  }
  await inBatches(count, 100, (i) => connect(b, `${prefix}e${i}`, onCallee(i)))
  const callers: Session[] = await inBatches(count, 100, (i) => connect(a, `${prefix}c${i}`, onCaller(i)))
  openSockets.push(...callers)
  if (kill) {
    callers.forEach((socket, i) =>
      socket.once('close', () => {
        const resume = { sessionId: socket.login?.sessionId, lastSeq: lastSeq[i] }
        void connect(b, `${prefix}c${i}`, onCaller(i), true, { resume }).then((again) => {
          onBAt[i] = Date.now()
          if (again.login?.resumed) resumedSessions++
          openSockets.push(again)
        }, progress)
      }),
    )
  }
  for (const [i, socket] of callers.entries()) {
    const call = { type: 'call', id: `${prefix}${i}`, to: [`${prefix}e${i}`], callType: 'audio' }
    socket.send(JSON.stringify({ ...call, timeoutMs: FAILOVER_RING_MS }))
  }
  await until(() => expiresAt.every(Boolean), 5000)
  await new Promise((r) => setTimeout(r, Math.min(...expiresAt) - 100 - Date.now()))
  const mark = Date.now()
  if (kill) await a.kill()
  await until(() => calleeEndAt.every(Boolean) && callerEndAt.every(Boolean), 15_000)
  const since = (at: Float64Array) => [...at].filter(Boolean).map((t) => t - mark)
  return {
    calleeEnd: since(calleeEndAt),
    lateness: [...calleeEndAt].flatMap((t, i) => (t ? [t - expiresAt[i]!] : [])),
    callerOnB: since(onBAt),
    callerEnd: since(callerEndAt),
    resumedSessions,
    count,
  }
}

async function until(ready: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

type Memory = Awaited<ReturnType<typeof idle>>
interface Run {
  loads: Record<Setup, LoadResult[]>
  /** The ringing calls timing out on a live cluster, and with their node killed. */
  calm: Ringing
  killed: Ringing
  memory: Record<'sqlite' | 'one node', Memory>
}

/** The machine's load average when the run began: other work shows in every row. */
let loadAtStart = 0

async function main(): Promise<number> {
  loadAtStart = loadavg()[0]!
  // Filled in as the run goes; reported only once every part of it is there.
  const run = { loads: {}, memory: {} } as Run
  try {
    const setups = {} as Record<Setup, Target[]>
    try {
      for (const setup of ORDER) setups[setup] = await startSetup(setup)
      progress(`load: ${RATES.join(', ')} calls/s, ${SECONDS} slices of 1 s per setup`)
      run.loads = await loads(setups)
      progress('ringing calls time out from A to B, then again with a kill -9 of node A')
      const [a, b] = setups['two nodes']
      run.calm = await ringing(a!, b!, FAILOVER, 'fb', false)
      run.killed = await ringing(a!, b!, FAILOVER, 'fk', true)
    } finally {
      await Promise.all(Object.values(setups).flatMap((nodes) => nodes.map((node) => node.stop())))
      for (const socket of openSockets.splice(0)) socket.terminate()
    }
    // Idle memory on fresh processes: a heap that no load run shared.
    for (const setup of ['sqlite', 'one node'] as const) {
      progress(`${SETUPS[setup]}: idle devices`)
      const [node] = await startSetup(setup)
      run.memory[setup] = await idle(node!, IDLE).finally(() => node!.stop())
    }
  } finally {
    await Promise.all(scopes.map((s) => s.drop()))
    if (!('skip' in postgres)) await postgres.dropSchemas()
  }
  return report(run)
}

/** Where the run is, on stderr: the table alone goes to stdout. */
const progress = (line: string) => process.stderr.write(`${line}\n`)
const ms = (v: number) => v.toFixed(2)
/**
 * A rate the setup did not keep up with: a pair's call had not ended when its next turn came, or
 * fewer calls got through than were offered. Its latencies are queueing, not signaling.
 */
const saturated = (r: LoadResult) => r.skipped > 0 || r.achieved < 0.9 * r.offered
const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL')

function report({ loads, calm, killed, memory }: Run): number {
  const machine = `${cpus().length} cores, load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end`
  console.log(`\n## bench/cluster — ${SECONDS} s per rate, ${PAIRS} caller/callee pairs; ${machine}\n`)
  console.log(
    '| offered calls/s | setup | achieved/s | p50 ms | p99 ms | max ms | p99 / one node (cluster) p99 | server CPU per call | server CPU, cores (per node) | server loop stall max ms (per node) | load generator CPU | skipped (pair still busy) | errors |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  let errors = 0
  const codes: string[] = []
  const ratios: string[] = []
  for (const [n, rate] of RATES.entries()) {
    const single = loads['one node'][n]!
    for (const setup of ['sqlite', 'one node', 'two nodes'] as const) {
      const r = loads[setup][n]!
      const l = r.latencies
      errors += r.errors
      for (const [code, count] of Object.entries(r.errorCodes))
        codes.push(`${count}× ${code} (${SETUPS[setup]}, ${rate}/s)`)
      const cores = r.serverLoops.map((s) => s.cpu)
      const perCall = (cores.reduce((x, y) => x + y, 0) * r.elapsed * 1000) / l.length
      console.log(
        `| ${rate} | ${SETUPS[setup]} | ${r.achieved.toFixed(0)}${saturated(r) ? ' (saturated)' : ''} | ${ms(pct(l, 50))} | ${ms(pct(l, 99))} | ${ms(Math.max(...l))} | ${(pct(l, 99) / pct(single.latencies, 99)).toFixed(2)}× | ${ms(perCall)} ms | ${cores.map((c) => c.toFixed(2)).join(' + ')} | ${r.serverLoops.map((s) => ms(s.max)).join(' / ')} | ${r.loadCpu.toFixed(2)} | ${r.skipped} | ${r.errors} |`,
      )
    }
    const cross = loads['two nodes'][n]!
    const ratio = pct(cross.latencies, 99) / pct(single.latencies, 99)
    ratios.push(
      saturated(single) || saturated(cross)
        ? `at ${rate} calls/s not measurable here (one node kept up with ${single.achieved.toFixed(0)}/s, two with ${cross.achieved.toFixed(0)}/s)`
        : `at ${rate} calls/s ${verdict(ratio <= 3)} (${ratio.toFixed(2)}×)`,
    )
  }
  const dist = (v: number[]) =>
    `${v.length} | ${v.length ? ms(pct(v, 50)) : '—'} | ${v.length ? ms(Math.max(...v)) : '—'}`
  console.log(
    `\n| ${killed.count} calls ringing from callers on A to callees on B, ${FAILOVER_RING_MS} ms ring timeout; the mark is 100 ms before the first deadline | devices | p50 ms | max ms |`,
  )
  console.log('|---|---|---|---|')
  console.log(`| baseline, no node killed: mark → callee hears callEnd (timeout) | ${dist(calm.calleeEnd)} |`)
  console.log(`| baseline: callee's callEnd after the ring deadline | ${dist(calm.lateness)} |`)
  console.log(`| kill -9 of A at the mark → callee (on B) hears callEnd | ${dist(killed.calleeEnd)} |`)
  console.log(`| kill -9: callee's callEnd after the ring deadline | ${dist(killed.lateness)} |`)
  console.log(
    `| kill -9 → caller (was on A) logged in on B (${killed.resumedSessions} of ${killed.count} resumed their session) | ${dist(killed.callerOnB)} |`,
  )
  console.log(`| kill -9 → caller hears callEnd on B | ${dist(killed.callerEnd)} |`)
  console.log('\n| idle devices | setup | held | server RSS per device | heap per device |')
  console.log('|---|---|---|---|---|')
  for (const setup of ['sqlite', 'one node'] as const) {
    const i = memory[setup]
    console.log(
      `| ${IDLE} | ${SETUPS[setup]} | ${i.held} | ${(i.perDevice / 1024).toFixed(1)} KB | ${(i.heapPerDevice / 1024).toFixed(1)} KB |`,
    )
  }
  const takeover = Math.max(...killed.calleeEnd, ...killed.callerEnd)
  const complete = [killed.calleeEnd, killed.callerEnd, calm.calleeEnd].every((v) => v.length === killed.count)
  const kb = memory['one node'].perDevice / 1024
  console.log(
    `\nTargets: cross-node p99 ≤ 3× one node's — ${ratios.join('; ')}. kill -9 → next event ≤ 5 s for every affected device — ${verdict(complete && takeover <= 5000)} (${complete ? `${ms(takeover / 1000)} s` : 'some devices heard nothing'}). Cluster mode ≤ 30 KB per idle device — ${verdict(kb <= 30)} (${kb.toFixed(1)} KB)`,
  )
  // Errors mean the numbers measured something other than calls: the run fails.
  if (errors > 0 || !complete)
    console.log(`\nThe run is not valid: ${errors} errors (${codes.join(', ')}); every ringing call ended: ${complete}`)
  return errors > 0 || !complete ? 1 : 0
}

process.exit(await main())
