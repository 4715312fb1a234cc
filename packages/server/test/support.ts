import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, randomUUID } from 'node:crypto'
import { after } from 'node:test'
import pg from 'pg'
import { pino } from 'pino'
import WebSocket from 'ws'
import { RingKit, type RingKitEvents, type WebSocketConstructor } from '@ringkit/client'
import { computeCheckSum, startServer, type App, type RingKitServer, type ServerOptions } from '../src/index.ts'
import { TEST_POSTGRES_URL } from './postgres.ts'
import { redisScope, type RedisScope } from './redis.ts'

export interface TestServer extends RingKitServer {
  dataDir: string
  app: App
  rest: Rest
  /** In a test cluster (RINGKIT_TEST_CLUSTER=1): the URLs of its other nodes, which devices alternate with. */
  peers?: string[]
}

/** What devices and app backends need of a server, in this process or another. */
export type ServerTarget = Pick<TestServer, 'url' | 'app' | 'rest'> & { peers?: string[] | undefined }

/**
 * A fresh data dir for a test server, in memory where the system has a tmpfs
 * (RINGKIT_TEST_TMP overrides). On a disk, a WAL checkpoint's fsync stalls on a loaded machine
 * while other suites write, and holds the database's writers meanwhile: seconds in which a test
 * waits for a reply that is only late. What the tests check does not depend on the disk.
 */
export function testDataDir(): string {
  const base = process.env.RINGKIT_TEST_TMP ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir())
  return mkdtempSync(join(base, 'ringkit-test-'))
}

/**
 * With RINGKIT_TEST_STORE=postgres, test servers keep their data in PostgreSQL
 * (RINGKIT_TEST_POSTGRES_URL), a schema per data dir: a server started again on the same data dir
 * finds its data, as with SQLite. The schemas are dropped when the test file ends.
 */
/**
 * With RINGKIT_TEST_CLUSTER=1, each test server is two nodes of one cluster (one PostgreSQL schema,
 * one Redis prefix), and the devices of a test log in to them in turn: the parties of a call sit on
 * different nodes. REST and the server's other parts are the first node's.
 */
const asCluster = process.env.RINGKIT_TEST_CLUSTER === '1'
const onPostgres = process.env.RINGKIT_TEST_STORE === 'postgres' || asCluster
const testSchemas = new Set<string>()
if (onPostgres) after(dropTestSchemas)

function testStore(dataDir: string): Pick<ServerOptions, 'postgres'> {
  if (!onPostgres) return {}
  const schema = `ringkit_test_${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`
  testSchemas.add(schema)
  return { postgres: { url: TEST_POSTGRES_URL, schema } }
}

async function dropTestSchemas(): Promise<void> {
  if (testSchemas.size === 0) return
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL })
  await client.connect()
  try {
    for (const schema of testSchemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    testSchemas.clear()
  } finally {
    await client.end()
  }
}

/**
 * A real server on an ephemeral port with SQLite in a fresh temp dir (or PostgreSQL, see
 * `testStore`). With RINGKIT_TEST_REDIS_STATE=1, it keeps its shared state (calls, busy accounts,
 * guards) in the Redis at RINGKIT_TEST_REDIS_URL under a prefix of its own, dropped when it closes.
 */
export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? testDataDir()
  const cluster = asCluster && !options.redis && !options.postgres && !options.nodeId
  const scope: RedisScope | undefined =
    (process.env.RINGKIT_TEST_REDIS_STATE === '1' || cluster) && !options.redis
      ? redisScope(process.env.RINGKIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
      : undefined
  const node = (nodeId?: string) =>
    startServer({
      dataDir,
      port: 0,
      logger: pino({ level: process.env.RINGKIT_TEST_LOG ?? 'silent' }),
      heartbeatMs: 1000,
      resumeGraceMs: 1500,
      ...testStore(dataDir),
      ...(scope ? { redis: { url: scope.url, prefix: scope.prefix } } : {}),
      ...(nodeId ? { nodeId } : {}),
      ...options,
    })
  // One after the other: the first makes the schema and the default app, the second finds them.
  const server = await node(cluster ? 'node-a' : undefined)
  const peer = cluster ? await node('node-b') : undefined
  const app = server.defaultApp
  return {
    ...server,
    dataDir,
    app,
    rest: rest(server.url, app),
    ...(peer ? { peers: [peer.url] } : {}),
    async close() {
      await Promise.all([server.close(), peer?.close()])
      await scope?.drop()
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Devices made so far per server: in a test cluster, each logs in to the next node in turn. */
const devicesMade = new Map<string, number>()

function nodeFor(server: ServerTarget): string {
  if (!server.peers?.length) return server.url
  const made = devicesMade.get(server.url) ?? 0
  devicesMade.set(server.url, made + 1)
  return [server.url, ...server.peers][made % (server.peers.length + 1)]!
}

export type Rest = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<{ status: number; body: any }> // eslint-disable-line @typescript-eslint/no-explicit-any

/** AppKey, a fresh Nonce, CurTime and their CheckSum: what every REST request carries. */
export function signedHeaders(app: Pick<App, 'appKey' | 'appSecret'>): Record<string, string> {
  const nonce = randomUUID()
  const curTime = String(Math.floor(Date.now() / 1000))
  return {
    AppKey: app.appKey,
    Nonce: nonce,
    CurTime: curTime,
    CheckSum: computeCheckSum(app.appSecret, nonce, curTime),
  }
}

/** Signed REST calls, as an app backend makes them. */
export function rest(base: string, app: Pick<App, 'appKey' | 'appSecret'>): Rest {
  return async (method, path, body, headers = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...signedHeaders(app),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }
}

/** Creates the account if needed and returns a fresh token for it. */
export async function tokenFor(
  server: ServerTarget,
  accid: string,
  ttlSeconds?: number,
  app = server.app,
): Promise<string> {
  const call = app === server.app ? server.rest : rest(server.url, app)
  await call('POST', '/v1/accounts', { accid, name: accid })
  const res = await call('POST', '/v1/tokens', { accid, ...(ttlSeconds ? { ttlSeconds } : {}) })
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.token as string
}

/** Waits until `ready()` holds, checking every few ms; throws naming `what` past `timeoutMs`. */
export async function waitFor(what: string, ready: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

type Seen = { [K in keyof RingKitEvents]: { name: K; payload: RingKitEvents[K]; at: number } }[keyof RingKitEvents]

/**
 * `servers`: the SDK's server list, instead of the server's URL alone. `WebSocket`: the socket class
 * the SDK opens, for a test that looks at the frames on the wire.
 */
type DeviceOptions = { deviceId?: string; app?: App; servers?: string[]; WebSocket?: WebSocketConstructor }

/** A logged-in SDK client (signaling only) that records every event it hears. */
export class TestDevice {
  readonly kit: RingKit
  readonly accid: string
  readonly seen: Seen[] = []
  readonly #waiters = new Set<() => void>()

  constructor(server: ServerTarget, accid: string, options: DeviceOptions = {}) {
    live.add(this)
    this.accid = accid
    this.kit = new RingKit({
      server: options.servers ?? nodeFor(server),
      appKey: (options.app ?? server.app).appKey,
      media: false,
      WebSocket: options.WebSocket ?? (WebSocket as unknown as WebSocketConstructor),
      requestTimeoutMs: 5000,
      ...(options.deviceId ? { deviceId: options.deviceId } : {}),
    })
    for (const name of Object.values(this.kit.EVENT)) {
      this.kit.on(name, (payload) => {
        this.seen.push({ name, payload, at: Date.now() } as Seen)
        for (const wake of this.#waiters) wake()
      })
    }
  }

  static async online(server: ServerTarget, accid: string, options: DeviceOptions = {}) {
    const device = new TestDevice(server, accid, options)
    await device.kit.login({ accid, token: await tokenFor(server, accid, undefined, options.app) })
    return device
  }

  names(): string[] {
    return this.seen.map((s) => s.name)
  }

  /** Waits for the next matching event not yet consumed by an earlier wait. */
  async next<K extends keyof RingKitEvents>(
    name: K,
    match: (payload: RingKitEvents[K]) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<RingKitEvents[K]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.seen.find((s) => s.name === name && !consumed.has(s) && match(s.payload as RingKitEvents[K]))
      if (hit) {
        consumed.add(hit)
        return hit.payload as RingKitEvents[K]
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.accid}: no ${name} within ${timeoutMs} ms; saw ${this.names().join(', ')}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left)
        function done() {
          clearTimeout(timer)
          waiters.delete(done)
          resolve()
        }
        const waiters = this.#waiters
        waiters.add(done)
      })
    }
  }

  /**
   * Resolves false if another `name` event arrives before the answer to a request sent now: the
   * server answers on the same socket after whatever it had sent this device already.
   */
  async quiet(name: keyof RingKitEvents): Promise<boolean> {
    const before = this.seen.filter((s) => s.name === name).length
    await this.kit.getCallHistory({ limit: 1 })
    return this.seen.filter((s) => s.name === name).length === before
  }

  async close(): Promise<void> {
    live.delete(this)
    await this.kit.logout().catch(() => {})
  }

  /** Logs every device still online out, so nothing keeps reconnecting after a suite. */
  static async closeAll(): Promise<void> {
    await Promise.all([...live].map((device) => device.close()))
  }
}

const live = new Set<TestDevice>()

const consumed = new WeakSet<object>()
