/**
 * Group call benchmark: MEMBERS bots (RingKit clients with @roamhq/wrtc, each sending a synthetic
 * WIDTH×HEIGHT camera at FPS plus a tone) in one video call through the RingKit server and one
 * Janus, all on this machine. Measures how long each member takes to join, whether every directed
 * stream keeps flowing, and the CPU of the server, Janus and the bots.
 *
 * Run: npx tsx bench/group.ts
 * Options (env): MEMBERS=25 SECONDS=20 WORKERS=3 WIDTH=320 HEIGHT=240 FPS=15 NOISE=0.25
 * ACCEPT_SPREAD_MS=10000 (callees answer at random within this long; 0: all at once)
 * PROFILE=bots writes a CPU profile of each bot process to bench/results/.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BotCommand, BotReport, Sample } from './group-bots.ts'
import { findProgram, startJanus } from '../packages/server/test/services.ts'
import { rest, signedHeaders, tokenFor, type ServerTarget } from '../packages/server/test/support.ts'
import { pct } from './percentile.ts'

const MEMBERS = Number(process.env.MEMBERS ?? 25)
const SECONDS = Number(process.env.SECONDS ?? 20)
const WORKERS = Math.min(MEMBERS, Number(process.env.WORKERS ?? 3))
const VIDEO = {
  width: Number(process.env.WIDTH ?? 320),
  height: Number(process.env.HEIGHT ?? 240),
  fps: Number(process.env.FPS ?? 15),
  // A quarter of each frame fresh noise: the encoders work about as hard as on a real camera.
  noise: Number(process.env.NOISE ?? 0.25),
}
/** Target: every member's media reaches all the others within this long of its accepting. */
const JOIN_TARGET_MS = 2000
const CLOCK_TICKS = 100
const ACCEPT_SPREAD_MS = Number(process.env.ACCEPT_SPREAD_MS ?? 10_000)

async function main(): Promise<void> {
  const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')
  if (typeof janusBinary !== 'string') {
    console.log(`bench/group skipped: ${janusBinary.skip}`)
    return
  }
  const janus = await startJanus(janusBinary)
  const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-bench-group-'))
  const server = await startRingKit(dataDir, janus.url, janus.apiSecret)
  const workers: Worker[] = []
  try {
    const accids = Array.from({ length: MEMBERS }, (_, i) => `member${String(i).padStart(2, '0')}`)
    const tokens = await Promise.all(
      accids.map(async (accid) => ({ accid, token: await tokenFor(server.target, accid) })),
    )
    for (let w = 0; w < WORKERS; w++) workers.push(await startWorker())
    const reports: BotReport[] = []
    for (const worker of workers) worker.child.on('message', (m: BotReport) => reports.push(m))
    await Promise.all(
      workers.map(async (worker, w) =>
        worker.ask({
          op: 'login',
          server: server.target.url,
          appKey: server.target.app.appKey,
          bots: tokens.filter((_, i) => i % WORKERS === w),
          video: VIDEO,
          acceptSpreadMs: ACCEPT_SPREAD_MS,
        }),
      ),
    )
    const [caller, ...callees] = accids
    await workers[0]!.ask({ op: 'call', from: caller!, to: callees })

    // Everyone is in once every member has received every other member's media.
    const everyPair = MEMBERS * (MEMBERS - 1)
    const deadline = Date.now() + 120_000
    const entered = () => new Set(reports.flatMap((r) => (r.ev === 'entered' ? [`${r.accid}<${r.from}`] : [])))
    for (let shown = 0; entered().size < everyPair && Date.now() < deadline; await sleep(250)) {
      if (Date.now() - shown < 5000) continue
      shown = Date.now()
      process.stderr.write(`${entered().size} / ${everyPair} member pairs hear each other\n`)
    }
    const joinMs = joinTimes(reports, caller!, callees)

    const pids = [server.pid, janus.pid, ...workers.map((w) => w.child.pid)]
    const drops0 = udpReceiveDrops()
    const owned0 = udpDropsOf(pids)
    const cpu0 = cpuTicks(pids)
    const wall0 = Date.now()
    const first = (await Promise.all(workers.map(async (w) => w.ask({ op: 'sample' })))).flat() as Sample[]
    await sleep(SECONDS * 1000)
    const second = (await Promise.all(workers.map(async (w) => w.ask({ op: 'sample' })))).flat() as Sample[]
    const cpu1 = cpuTicks(pids)
    const wall = (Date.now() - wall0) / 1000
    const drops = udpReceiveDrops() - drops0
    const owned = udpDropsOf(pids).map((n, i) => n - owned0[i]!)
    const load = cpu1.map((ticks, i) => (ticks - cpu0[i]!) / CLOCK_TICKS / wall)

    const flow = flowing(first, second)
    const waits = await sfuWaits(server.target)
    const errors = reports.flatMap((r) =>
      r.ev === 'error' ? [`${r.accid}: ${r.message}`] : r.ev === 'ended' ? [`${r.accid}: call ended, ${r.reason}`] : [],
    )
    printTable({ joinMs, flow, load, entered: entered().size, everyPair, errors, waits, drops, owned })
    await workers[0]!.ask({ op: 'hangup' })
  } finally {
    await Promise.all(workers.map(async (worker) => stopWorker(worker.child)))
    server.child.kill('SIGTERM')
    await janus.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/**
 * Per callee: from its accept until its media and theirs flow both ways with everyone already in
 * the call when it answered (the caller, and those who answered before). Those who answer later
 * count it in their own join.
 */
function joinTimes(reports: BotReport[], caller: string, callees: string[]): number[] {
  const acceptedAt = new Map(reports.flatMap((r) => (r.ev === 'accepted' ? [[r.accid, r.at] as const] : [])))
  const enteredAt = new Map(
    reports.flatMap((r) => (r.ev === 'entered' ? [[`${r.accid}<${r.from}`, r.at] as const] : [])),
  )
  return callees.map((accid) => {
    const accepted = acceptedAt.get(accid)
    if (accepted === undefined) return Number.POSITIVE_INFINITY
    const before = [caller, ...callees.filter((other) => (acceptedAt.get(other) ?? Infinity) < accepted)]
    const times = before.flatMap((other) => [enteredAt.get(`${accid}<${other}`), enteredAt.get(`${other}<${accid}`)])
    if (times.some((t) => t === undefined)) return Number.POSITIVE_INFINITY
    return Math.max(accepted, ...(times as number[])) - accepted
  })
}

/** Of the directed streams, how many grew between the two samples (and, for video, decoded frames). */
function flowing(first: Sample[], second: Sample[]) {
  const before = new Map(first.flatMap((s) => s.streams.map((st) => [`${s.accid} ${st.id}`, st] as const)))
  const count = { video: 0, audio: 0, decoding: 0, videoBytes: 0 }
  for (const s of second) {
    for (const st of s.streams) {
      const was = before.get(`${s.accid} ${st.id}`)
      if (!was || st.bytes <= was.bytes) continue
      if (st.kind === 'audio') count.audio++
      if (st.kind !== 'video') continue
      count.video++
      count.videoBytes += st.bytes - was.bytes
      if (st.frames > was.frames) count.decoding++
    }
  }
  return count
}

function printTable(r: {
  joinMs: number[]
  flow: ReturnType<typeof flowing>
  load: number[]
  entered: number
  everyPair: number
  errors: string[]
  waits: Awaited<ReturnType<typeof sfuWaits>>
  drops: number
  owned: number[]
}): void {
  const [server = 0, janus = 0, ...bots] = r.load
  const botsCpu = bots.reduce((a, b) => a + b, 0)
  const kbps = (r.flow.videoBytes * 8) / 1000 / SECONDS / Math.max(1, r.flow.video)
  console.log(
    `\n## bench/group — ${MEMBERS} members, video ${VIDEO.width}×${VIDEO.height} at ${VIDEO.fps} fps (${VIDEO.noise * 100}% noise) + audio, callees answer within ${ACCEPT_SPREAD_MS / 1000} s, one Janus, ${WORKERS} bot processes, ${SECONDS} s\n`,
  )
  console.log('| measure | value |')
  console.log('|---|---|')
  console.log(`| member media received by every other member (pairs) | ${r.entered} / ${r.everyPair} |`)
  console.log(`| join: accept → media both ways with everyone already in, p50 | ${fmt(pct(r.joinMs, 50))} ms |`)
  console.log(`| join: p95 | ${fmt(pct(r.joinMs, 95))} ms |`)
  console.log(`| join: max | ${fmt(Math.max(...r.joinMs))} ms |`)
  console.log(`| video streams whose RTP grew over ${SECONDS} s | ${r.flow.video} / ${r.everyPair} |`)
  console.log(`| audio streams whose RTP grew | ${r.flow.audio} / ${r.everyPair} |`)
  console.log(`| video streams decoding new frames | ${r.flow.decoding} / ${r.everyPair} |`)
  console.log(`| mean video bitrate per stream | ${kbps.toFixed(0)} kbps |`)
  for (const [on, w] of Object.entries(r.waits)) {
    const what = on === 'janus' ? 'one Janus request' : 'a device answering an offer'
    const p95 = w.p95Ms === Infinity ? '> 5000' : `≤ ${fmt(w.p95Ms)}`
    console.log(`| negotiation wait: ${what} (${w.count}), mean / p95 | ${fmt(w.meanMs)} / ${p95} ms |`)
  }
  const [, janusDrops = 0, ...botDrops] = r.owned
  console.log(`| UDP datagrams dropped by full receive buffers (whole machine) | ${r.drops} |`)
  console.log(
    `| … of those, at Janus's sockets / at the bots' sockets | ${janusDrops} / ${botDrops.reduce((a, b) => a + b, 0)} |`,
  )
  console.log(`| CPU: RingKit server | ${(server * 100).toFixed(0)} % of a core |`)
  console.log(`| CPU: Janus | ${(janus * 100).toFixed(0)} % of a core |`)
  console.log(
    `| CPU: bots (encode ${MEMBERS}, decode ${r.everyPair} streams) | ${(botsCpu * 100).toFixed(0)} % of a core |`,
  )
  if (r.errors.length > 0) console.log(`\n${r.errors.length} bot errors, first: ${r.errors.slice(0, 3).join(' | ')}`)
  const allFlowing = r.flow.video === r.everyPair
  const joinedInTime = Math.max(...r.joinMs) <= JOIN_TARGET_MS
  console.log(`\nTarget: all ${r.everyPair} video streams flowing — ${allFlowing ? 'PASS' : 'FAIL'}`)
  console.log(
    `Target: every member joined within ${JOIN_TARGET_MS} ms of accepting — ${joinedInTime ? 'PASS' : 'FAIL'}`,
  )
}

interface Worker {
  child: ChildProcess
  ask(command: BotCommand): Promise<unknown>
}

async function startWorker(): Promise<Worker> {
  const child = fork(new URL('./group-bots.ts', import.meta.url).pathname, [], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.PROFILE === 'bots' ? ['--cpu-prof', '--cpu-prof-dir=bench/results'] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await new Promise<void>((resolve) => child.once('message', () => resolve()))
  let queue = Promise.resolve<unknown>(undefined)
  return {
    child,
    // One command at a time per worker: replies carry no id, so they come back in order.
    ask(command) {
      const next = queue.then(
        () =>
          new Promise((resolve, reject) => {
            const onMessage = (m: BotReport) => {
              if (m.ev !== 'reply' || m.op !== command.op) return
              child.off('message', onMessage)
              if (m.error) reject(new Error(m.error))
              else resolve(m.result)
            }
            child.on('message', onMessage)
            child.send(command)
          }),
      )
      queue = next.catch(() => undefined)
      return next
    },
  }
}

/** A worker leaves when told to disconnect, writing its profile if asked for one; one that hangs is killed. */
async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  child.disconnect()
  await exited
  clearTimeout(timer)
}

/** `ringkit serve` with Janus, as an operator would start it, on a free loopback port. */
async function startRingKit(dataDir: string, janusUrl: string, janusSecret: string) {
  const cli = new URL('../packages/server/src/cli/main.ts', import.meta.url).pathname
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'serve',
      '--port=0',
      '--host=127.0.0.1',
      `--data-dir=${dataDir}`,
      '--no-demo',
      `--janus=${janusUrl}`,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, RINGKIT_LOG_LEVEL: 'warn', RINGKIT_JANUS_SECRET: janusSecret },
    },
  )
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  const deadline = Date.now() + 20_000
  while (!/AppSecret: +\S+/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ringkit serve did not start:\n${out}`)
    await sleep(50)
  }
  const url = /serving at (\S+)/.exec(out)?.[1] ?? ''
  const appKey = /AppKey: +(\S+)/.exec(out)?.[1] ?? ''
  const appSecret = /AppSecret: +(\S+)/.exec(out)?.[1] ?? ''
  const app = { appKey, appSecret, name: 'default', multiDevice: true, createdAt: 0 }
  const target: ServerTarget = { url, app, rest: rest(url, app) }
  return { child, pid: child.pid, target }
}

/**
 * The server's own account of where negotiation waited (its `ringkit_sfu_wait_seconds` histogram):
 * on Janus, or on devices. The p95 is the upper bound of the bucket it falls in.
 */
async function sfuWaits(target: ServerTarget) {
  const text = await (await fetch(`${target.url}/metrics`, { headers: signedHeaders(target.app) })).text()
  const waits: Record<string, { count: number; meanMs: number; p95Ms: number }> = {}
  for (const on of ['janus', 'device']) {
    const value = (series: string) =>
      Number(new RegExp(`^ringkit_sfu_wait_seconds_${series}{on="${on}"} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
    const count = value('count')
    const buckets = [
      ...text.matchAll(new RegExp(`^ringkit_sfu_wait_seconds_bucket{le="([^"]+)",on="${on}"} (\\S+)$`, 'gm')),
    ]
    // The +Inf bucket says only that it is above the last bound.
    const p95 = buckets.find(([, , n]) => Number(n) >= 0.95 * count)?.[1]
    const p95Ms = p95 === '+Inf' ? Infinity : Number(p95) * 1000
    waits[on] = { count, meanMs: (value('sum') / count) * 1000, p95Ms }
  }
  return waits
}

/** Datagrams the kernel dropped because a socket's receive buffer was full, machine-wide. */
function udpReceiveDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n')
  const at = lines.findIndex((line) => line.startsWith('Udp:'))
  const names = lines[at]?.split(' ') ?? []
  const values = lines[at + 1]?.split(' ') ?? []
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0)
}

/**
 * Per process, the datagrams dropped for full receive buffers on the UDP sockets it holds open
 * (a socket's count covers its whole life; 0 for a process that is gone).
 */
function udpDropsOf(pids: Array<number | undefined>): number[] {
  const byInode = new Map<string, number>()
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length >= 13) byInode.set(fields[9]!, Number(fields.at(-1)))
    }
  }
  return pids.map((pid) => {
    let drops = 0
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkOr(`/proc/${pid}/fd/${fd}`))?.[1]
        if (inode) drops += byInode.get(inode) ?? 0
      }
    } catch {
      // The process is gone.
    }
    return drops
  })
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path)
  } catch {
    return ''
  }
}

/** utime + stime of each process, in clock ticks (0 for one that is gone). */
function cpuTicks(pids: Array<number | undefined>): number[] {
  return pids.map((pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return Number(fields[11]) + Number(fields[12])
    } catch {
      return 0
    }
  })
}

const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(0) : '—')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

await main()
