/**
 * The server side of bench/signaling, in its own process: either RingKit or a bare `ws` relay.
 * It reports its port over IPC and answers memory probes (after a forced GC) and seeding requests.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { pino } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_ATTACHMENT_BYTES, type CallRecord } from '../packages/protocol/src/index.ts'
import { startServer, type RingKitServer, type ServerOptions } from '../packages/server/src/index.ts'

type Request = { id: number; op: 'memory' | 'delay' | 'seed' | 'records'; prefix?: string; count?: number }

/** How long the event loop stalled since the last probe: blocking work shows here. */
const loopDelay = monitorEventLoopDelay({ resolution: 1 })
loopDelay.enable()
let gc = { count: 0, total: 0, max: 0 }
let cpuAt = { usage: process.cpuUsage(), at: performance.now() }
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.count++
    gc.total += entry.duration
    gc.max = Math.max(gc.max, entry.duration)
  }
}).observe({ entryTypes: ['gc'] })
function delay() {
  const used = process.cpuUsage(cpuAt.usage)
  const cpu = (used.user + used.system) / 1000 / (performance.now() - cpuAt.at)
  cpuAt = { usage: process.cpuUsage(), at: performance.now() }
  const result = {
    p50: loopDelay.percentile(50) / 1e6,
    p99: loopDelay.percentile(99) / 1e6,
    max: loopDelay.max / 1e6,
    gc,
    cpu,
  }
  loopDelay.reset()
  gc = { count: 0, total: 0, max: 0 }
  return result
}

const kind = process.argv[2]
const send = (message: object) => process.send!(message)

function memory() {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage()
  // What the JavaScript heap holds, plus the buffers sockets have yet to write.
  return { rss, heapUsed, held: heapUsed + arrayBuffers }
}

if (kind === 'ringkit') {
  const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-bench-'))
  // Every socket comes from loopback, and each callee declines at once and is rung again by the
  // same caller: the per-IP cap and the decline cooldown would measure themselves, not signaling.
  // HEARTBEAT_MS: the hostile-socket run keeps a socket that stops reading open for as long as it measures.
  const heartbeatMs = Number(process.env.HEARTBEAT_MS) || undefined
  const server = await startServer({
    dataDir,
    port: 0,
    logger: pino({ level: 'warn' }),
    limits: { connectionsPerIp: 100_000, declineCooldownMs: 0 },
    ...(heartbeatMs ? { heartbeatMs } : {}),
    ...clusterOptions(process.env),
  })
  process.on('message', async (message: Request) => {
    if (message.op === 'memory') return send({ id: message.id, ...memory() })
    if (message.op === 'delay') return send({ id: message.id, ...delay() })
    if (message.op === 'records') {
      await seedRecords(server, message.prefix ?? 'hoarder', message.count ?? 0)
      return send({ id: message.id })
    }
    for (let i = 0; i < (message.count ?? 0); i++)
      await server.store.createAccount(server.defaultApp.appKey, { accid: `${message.prefix}${i}` }, Date.now())
    send({ id: message.id })
  })
  process.on('disconnect', () => {
    void server.close().finally(() => {
      rmSync(dataDir, { recursive: true, force: true })
      process.exit(0)
    })
  })
  send({ ready: true, port: server.port, appKey: server.defaultApp.appKey, appSecret: server.defaultApp.appSecret })
} else {
  // The baseline: log in by name, then every frame naming `to` is forwarded to that socket as it is.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false })
  const byName = new Map<string, WebSocket>()
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; id: string; accid?: string; to?: string }
      if (frame.type === 'login' && frame.accid) {
        byName.set(frame.accid, socket)
        socket.send(JSON.stringify({ type: 'reply', id: frame.id }))
      } else if (frame.to) {
        byName.get(frame.to)?.send(data, { binary: false })
      }
    })
  })
  await new Promise((resolve) => wss.once('listening', resolve))
  process.on('message', (message: Request) =>
    send({ id: message.id, ...(message.op === 'memory' ? memory() : message.op === 'delay' ? delay() : {}) }),
  )
  process.on('disconnect', () => process.exit(0))
  send({ ready: true, port: (wss.address() as AddressInfo).port })
}

/** An account with `count` records as large as records get: 25 members and the largest attachment. */
async function seedRecords(server: RingKitServer, accid: string, count: number) {
  const appKey = server.defaultApp.appKey
  await server.store.createAccount(appKey, { accid }, Date.now())
  const callees = Array.from({ length: 24 }, (_, i) => `callee-${i}`)
  for (let i = 0; i < count; i++) {
    const record: CallRecord = {
      callId: `${accid}-${i}`,
      type: 'video',
      caller: accid,
      callees,
      isGroup: true,
      status: 1,
      endReason: 'hangup',
      startedAt: i,
      connectedAt: i,
      endedAt: i + 1,
      durationSeconds: 1,
      members: [accid, ...callees].map((a) => ({ accid: a, status: 'joined', joinedAt: i, leftAt: i + 1 })),
      attachment: { note: 'x'.repeat(MAX_ATTACHMENT_BYTES - '{"note":""}'.length) },
    }
    await server.store.finishCall(appKey, record)
  }
}

/**
 * A node of a cluster when BENCH_POSTGRES_URL and BENCH_REDIS_URL are set, as `ringkit serve
 * --postgres --schema --redis --redis-prefix --node-id` makes one; SQLite in the data dir otherwise.
 */
function clusterOptions(env: NodeJS.ProcessEnv): Partial<ServerOptions> {
  if (!env.BENCH_POSTGRES_URL || !env.BENCH_REDIS_URL) return {}
  return {
    postgres: { url: env.BENCH_POSTGRES_URL, schema: env.BENCH_PG_SCHEMA },
    redis: { url: env.BENCH_REDIS_URL, prefix: env.BENCH_REDIS_PREFIX ?? 'ringkit:' },
    ...(env.BENCH_NODE_ID ? { nodeId: env.BENCH_NODE_ID } : {}),
  }
}
