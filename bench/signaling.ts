/**
 * Signaling benchmark: invite → `invited` latency under open-loop load, and the memory an idle
 * logged-in device costs the server, for RingKit and for a bare `ws` relay measured the same way
 * in the same run. Each server runs in its own process. Run: npx tsx bench/signaling.ts
 * Options (env): RATES=200,1000  SECONDS=6  PAIRS=600  IDLE=10000
 */
import type { Socket } from 'node:net'
import { DEFAULT_LIMITS } from '../packages/server/src/index.ts'
import { pct } from './percentile.ts'
import { connect, id, idle, load, openSockets, start, type Kind, type LoadResult } from './signaling-load.ts'

const RATES = (process.env.RATES ?? '200,1000').split(',').map(Number)
const SECONDS = Number(process.env.SECONDS ?? 6)
const PAIRS = Number(process.env.PAIRS ?? 600)
const IDLE = Number(process.env.IDLE ?? 10_000)

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
    const held = await idle(idleTarget, IDLE).finally(() => idleTarget.stop())
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
        if (n === 0) await load(target, Math.min(rate, 200), `r${n}`, { seconds: SECONDS, pairs: PAIRS })
        loads.push(await load(target, rate, `r${n}`, { seconds: SECONDS, pairs: PAIRS }))
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
