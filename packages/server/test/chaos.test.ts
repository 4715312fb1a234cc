import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { CallRecord } from '@ringkit/protocol'
import { runCli, servingUrl, type CliRun } from './cli-process.ts'
import { checkSequence, codeOf, KINDS, placeCall, tappedWebSocket, type Kind, type WireFrame } from './chaos-calls.ts'
import type { TestPostgres } from './postgres.ts'
import { redisScope, type RedisScope } from './redis.ts'
import { until } from './memory-support.ts'
import { haproxySuite, SHIPPED_HAPROXY_CONFIG } from './cluster.ts'
import { freePort } from './services.ts'
import { rest, testDataDir, TestDevice, type ServerTarget } from './support.ts'

/**
 * Three `ringkit serve` nodes behind the shipped HAProxy config, one of them killed (`kill -9`)
 * and started again every few seconds while devices place calls of every kind through HAProxy.
 * Afterwards every call has its one record, nobody is busy or ringing, ringing calls timed out on
 * time, and what each device read was numbered without a gap or a repeat.
 */

const NODES = ['node1', 'node2', 'node3'] as const
/** Calls to place while nodes die, and how many at once. */
const CALLS = 1000
const LANES = 10
const DEVICES = 36
/** Every call rings this long: short, so that a call cut short by a dying node ends soon by itself. */
const RING_MS = 2000
/** A node dies this long after the last one came back, give or take a second. */
const KILL_EVERY_MS = 2500
/** Calls go on until this many kills too, for at most `CHAOS_MAX_MS`. */
const MIN_KILLS = 12
const CHAOS_MAX_MS = 150_000
/** How often an idle device's socket drops, as a network blip would: it resumes through HAProxy. */
const BLIP_EVERY_MS = 700
/** Past its deadline, how late the contract lets a ringing call time out when its node died. */
const LATE_MS = 5000
/** The server holds a decline against its caller → callee pair this long (`Limits.declineCooldownMs`). */
const DECLINE_HELD_MS = 31_000

const { haproxy, postgres, redis, skip, children } = await haproxySuite()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('chaos: calls through HAProxy while a random node of three is killed and restarted', { skip }, () => {
  const app = { appKey: 'chaos-app', appSecret: randomBytes(24).toString('hex') }
  const scratch = mkdtempSync(join(tmpdir(), 'ringkit-chaos-'))
  const nodes = new Map<string, { run: CliRun; port: number; dataDir: string; starts: number }>()
  let scope: RedisScope
  let schema = ''
  let cluster: string[] = []
  let target: ServerTarget

  /** Starts (or starts again) a node on its port; half of the restarts keep the node's id, half take a new one. */
  async function start(name: string, port: number): Promise<void> {
    const starts = (nodes.get(name)?.starts ?? 0) + 1
    const nodeId = Math.random() < 0.5 ? name : `${name}-${starts}`
    const dataDir = nodes.get(name)?.dataDir ?? testDataDir()
    const args = ['serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--no-demo']
    const env = { RINGKIT_APP_KEY: app.appKey, RINGKIT_APP_SECRET: app.appSecret, RINGKIT_NODE_ID: nodeId }
    const run = runCli([...args, ...cluster], env, children)
    nodes.set(name, { run, port, dataDir, starts })
    await servingUrl(run)
  }

  before(async () => {
    const pg = postgres as TestPostgres
    scope = redisScope(redis.url)
    schema = pg.schema()
    cluster = ['--postgres', pg.url, '--schema', schema, '--redis', redis.url, '--redis-prefix', scope.prefix]
    // One after the other, so the schema is migrated once before the others start on it.
    for (const name of NODES) await start(name, await freePort())
    const lbPort = await freePort()
    const lb = spawn(haproxy, ['-db', '-f', SHIPPED_HAPROXY_CONFIG], {
      env: {
        ...process.env,
        ...Object.fromEntries(NODES.map((name, i) => [`RINGKIT_NODE${i + 1}`, `127.0.0.1:${nodes.get(name)!.port}`])),
        RINGKIT_LB_BIND: `127.0.0.1:${lbPort}`,
        RINGKIT_LB_STATS: join(scratch, 'haproxy.sock'),
      },
      stdio: 'ignore',
    })
    children.add(lb)
    const proxyUrl = `http://127.0.0.1:${lbPort}`
    target = {
      url: proxyUrl,
      app: { ...app, name: 'default', multiDevice: true, createdAt: 0 },
      rest: rest(proxyUrl, app),
    }
    // HAProxy checks every node before it sends anything: until then it answers 503.
    const passing = async () => (await fetch(`${proxyUrl}/readyz`).catch(() => undefined))?.ok === true
    await until('HAProxy passing requests', passing, 15_000)
  })

  after(async () => {
    await TestDevice.closeAll()
    for (const child of children) child.kill('SIGKILL')
    await scope?.drop()
    if (!('skip' in postgres)) await postgres.dropSchemas()
    for (const node of nodes.values()) rmSync(node.dataDir, { recursive: true, force: true })
    rmSync(scratch, { recursive: true, force: true })
  })

  it(`${CALLS} calls of every kind; each ends with one record, nobody busy or ringing, no frame lost or repeated`, async () => {
    const wires = new Map<TestDevice, WireFrame[]>()
    const devices: TestDevice[] = []
    for (let i = 0; i < DEVICES; i++) {
      const log: WireFrame[] = []
      const device = await TestDevice.online(target, `chaos-${i}`, { WebSocket: tappedWebSocket(log) })
      wires.set(device, log)
      devices.push(device)
    }

    // The killer: a random node dies, comes back on its port, and the next dies a few seconds later.
    const kills: { node: string; at: number }[] = []
    let chaos = true
    const killer = (async () => {
      while (chaos) {
        await sleep(KILL_EVERY_MS - 1000 + Math.random() * 2000)
        if (!chaos) break
        const name = NODES[Math.floor(Math.random() * NODES.length)]!
        const node = nodes.get(name)!
        kills.push({ node: name, at: Date.now() })
        node.run.child.kill('SIGKILL')
        await node.run.exited
        await start(name, node.port)
      }
    })()

    // The lanes: each takes idle devices, places a call, gives them back.
    const idle = new Set(devices)
    const declined = new Map<string, number>()
    const placed = new Map<string, { kind: Kind; clean: boolean }>()
    const refused = new Map<string, number>()
    let begun = 0
    const pick = (caller: TestDevice, count: number) => {
      const now = Date.now()
      const free = [...idle].filter(
        (d) => d !== caller && now - (declined.get(`${caller.accid}>${d.accid}`) ?? 0) > DECLINE_HELD_MS,
      )
      return shuffle(free).slice(0, count)
    }
    const started = Date.now()
    const going = () => (begun < CALLS || kills.length < MIN_KILLS) && Date.now() - started < CHAOS_MAX_MS
    const lane = async () => {
      while (going()) {
        const kind = KINDS[Math.floor(Math.random() * KINDS.length)]!
        const caller = shuffle([...idle])[0]
        const callees = caller ? pick(caller, kind === 'group' ? 2 : 1) : []
        if (!caller || callees.length < (kind === 'group' ? 2 : 1)) {
          await sleep(20)
          continue
        }
        const party = [caller, ...callees]
        for (const d of party) idle.delete(d)
        begun++
        try {
          const call = await placeCall(kind, caller, callees, RING_MS, (callee) =>
            declined.set(`${caller.accid}>${callee.accid}`, Date.now()),
          )
          placed.set(call.callId, call)
        } catch (error) {
          // Not placed (the caller's node died under the request, or it was refused): not a call.
          begun--
          refused.set(codeOf(error), (refused.get(codeOf(error)) ?? 0) + 1)
          await sleep(100)
        } finally {
          for (const d of party) idle.add(d)
        }
      }
    }
    // Blips: an idle device's socket drops now and then; it resumes on whichever node HAProxy picks.
    const blipper = (async () => {
      while (chaos) {
        await sleep(BLIP_EVERY_MS)
        const device = shuffle([...idle]).find((d) => d.kit.calls.length === 0)
        device?.kit.simulateNetworkDrop()
      }
    })()
    await Promise.all(Array.from({ length: LANES }, lane))
    chaos = false
    await Promise.all([killer, blipper])
    // The devices back online before the checks, which call them.
    for (const device of devices) {
      await until(
        `${device.accid} online`,
        async () => (await device.kit.getCallHistory({ limit: 1 }).catch(() => false)) !== false,
        15_000,
      )
    }
    const chaosMs = Date.now() - started

    // Every call ends: the journal empties and no live state is left in Redis.
    const pg = postgres as TestPostgres
    const journal = async () => (await pg.query(`SELECT call_id, node_id, state FROM "${schema}".call_journal`)).rows
    await until('every call ended (the journal empty)', async () => (await journal()).length === 0, 30_000).catch(
      async (error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(await journal()).slice(0, 2000)}`)
      },
    )
    const raw = new Redis(redis.url)
    try {
      const callKeys = (await scope.keys()).filter((key) => key.startsWith(`${scope.prefix}call:`))
      const live = []
      for (const key of callKeys) if (await raw.hexists(key, 's')) live.push(key)
      assert.deepEqual(live, [], 'no call state left live in Redis')
      assert.equal(await raw.zcard(`${scope.prefix}deadlines`), 0, 'no ringing deadline left')
    } finally {
      raw.disconnect()
    }

    // Exactly one record for every call placed; a call whose reply was lost has one too.
    const rows = (await pg.query(`SELECT record FROM "${schema}".call_records`)).rows as { record: CallRecord }[]
    const records = new Map(rows.map((r) => [r.record.callId, r.record]))
    const missing = [...placed.keys()].filter((callId) => !records.has(callId))
    assert.deepEqual(missing, [], 'every call placed has its record')
    for (const [device] of wires) {
      const heard = device.seen.filter((s) => s.name === 'record').map((s) => (s.payload as CallRecord).callId)
      assert.equal(new Set(heard).size, heard.length, `${device.accid} heard a record twice`)
    }

    // Ringing calls timed out on time, whether or not their node died.
    const timedOut = [...records.values()].filter((r) => r.endReason === 'timeout')
    const late = timedOut.map((r) => r.endedAt - (r.startedAt + RING_MS))
    const tooLate = timedOut.filter((_, i) => late[i]! > LATE_MS)
    assert.deepEqual(tooLate, [], `timed out more than ${LATE_MS} ms after the deadline`)
    const duringKill = timedOut.filter((r) => kills.some((k) => k.at >= r.startedAt && k.at <= r.startedAt + RING_MS))

    // Nobody left ringing or busy: no device holds a call, and a fresh call to each account rings it.
    // A call whose end died with a node ends on its device once its node sees the record (every 2 s,
    // for calls held 4 s or more): a device that moved again meanwhile waits that long once more.
    await until(
      'no device holds a call',
      async () => devices.every((device) => device.kit.calls.length === 0),
      15_000,
    ).catch(() => {})
    for (const device of devices)
      assert.deepEqual(
        device.kit.calls.map((c) => c.callId),
        [],
        `${device.accid} holds a call`,
      )
    for (const [i, callee] of devices.entries()) {
      // The next device along whose call the callee did not just decline (the server holds that
      // against the pair): each places about one call, well within its rate.
      const caller = [...devices.slice(i + 1), ...devices.slice(0, i)].find(
        (d) => Date.now() - (declined.get(`${d.accid}>${callee.accid}`) ?? 0) > DECLINE_HELD_MS,
      )!
      const call = await caller.kit.call({ to: callee.accid, type: 'audio', timeoutMs: RING_MS })
      await callee.next('invited', (e) => e.call.callId === call.callId, 5000)
      await call.cancel()
    }

    // What each device read: per session, every numbered frame once and in order.
    let resumed = 0
    let fresh = 0
    const problems: string[] = []
    for (const [device, log] of wires) {
      const seen = checkSequence(log)
      resumed += seen.resumed
      fresh += seen.fresh - 1
      problems.push(...seen.problems.map((p) => `${device.accid}: ${p}`))
    }
    assert.deepEqual(problems, [], 'every device read each frame once, in order')

    const byKind = Object.fromEntries(
      KINDS.map((kind) => [kind, [...placed.values()].filter((c) => c.kind === kind).length]),
    )
    const cut = [...placed.values()].filter((c) => !c.clean).length
    const reasons = count([...records.values()].map((r) => r.endReason))
    console.log(
      [
        `chaos: ${placed.size} calls in ${(chaosMs / 1000).toFixed(0)} s ${JSON.stringify(byKind)}, ${cut} cut short by a kill`,
        `not placed: ${JSON.stringify(Object.fromEntries(refused))}`,
        `kills: ${kills.length} (${JSON.stringify(count(kills.map((k) => k.node)))})`,
        `records: ${records.size} (${records.size - placed.size} of calls whose reply was lost) ${JSON.stringify(reasons)}`,
        `timeouts: ${timedOut.length}, ${duringKill.length} with a kill while ringing, latest ${Math.max(0, ...late)} ms past the deadline`,
        `logins again: ${resumed} resumed, ${fresh} new sessions`,
      ].join('\n'),
    )
    assert.ok(placed.size >= CALLS, `${placed.size} calls placed`)
    assert.ok(kills.length >= 10, `${kills.length} kills`)
  })
})

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

function count(items: string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1
  return counts
}
