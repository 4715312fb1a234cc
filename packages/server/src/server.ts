import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { RingKitError } from '@ringkit/protocol'
import { callIceServers, checkIceConfig, sessionIceServers, type IceConfig } from './auth/turn.ts'
import { memoryNonceStore } from './auth/checksum.ts'
import { ClusterDelivery } from './bus/cluster-delivery.ts'
import { clusterNode, defaultNodeId, NODE_HEARTBEAT_MS, startNodeHeartbeat } from './bus/nodes.ts'
import type { RedisConfig } from './bus/redis-config.ts'
import { openRedis, type RedisLink } from './bus/redis.ts'
import { redisCallStateStore } from './bus/redis-call-state.ts'
import { redisCooldowns, redisNonceStore, redisRateLimiter } from './bus/redis-guards.ts'
import { redisPresence } from './bus/redis-presence.ts'
import { SessionLog } from './bus/session-log.ts'
import { refreshWatchingLapse } from './bus/lapse.ts'
import { CallEngine } from './calls/CallEngine.ts'
import { memoryCallStateStore, type EventDelivery } from './calls/ports.ts'
import { AccountGuards } from './guards/AccountGuards.ts'
import { memoryCooldowns } from './guards/cooldowns.ts'
import { clientAddress, IpConnections, proxySet } from './guards/ip-connections.ts'
import { memoryRateLimiter } from './guards/rate-limiter.ts'
import { SIGNAL_ROUTE } from './http/api.ts'
import { registerBrowserBundle } from './http/browser-bundle.ts'
import { registerRoutes } from './http/routes.ts'
import { WebhookDispatcher } from './webhooks/dispatcher.ts'
import { WebhookOutbox } from './webhooks/outbox.ts'
import { DEFAULT_VAPID_SUBJECT, PushRinger, vapidKeys } from './push/ringer.ts'
import { callReach } from './push/reach.ts'
import { deviceReach } from './push/device-reach.ts'
import { registerServiceWorker } from './push/service-worker.ts'
import { httpTimeouts } from './http/timeouts.ts'
import { resolveLimits, type LimitOverrides } from './limits.ts'
import { createMetrics } from './metrics.ts'
import { drainNode } from './signal/drain.ts'
import { Gateway } from './signal/Gateway.ts'
import { DeviceSlots, memoryPresence, type Presence } from './signal/presence.ts'
import { SessionHandoff } from './signal/takeover.ts'
import { SessionRegistry } from './signal/SessionRegistry.ts'
import { assertJanusSecret, SfuCalls } from './sfu/index.ts'
import { redisSfuRooms } from './bus/redis-sfu-rooms.ts'
import { redisRingingSignals } from './bus/redis-ringing-signals.ts'
import { redisSharedSpool } from './bus/redis-record-spool.ts'
import { memoryRingingSignals } from './calls/ringing-signals.ts'
import { openPostgresStore } from './store/postgres.ts'
import { deferredJournal } from './store/deferred-journal.ts'
import { RECORD_SPOOL_DIR, withRecordSpool } from './store/record-spool.ts'
import { openSqliteStore } from './store/sqlite.ts'
import { ALIVE_SETTING, type App, type Store } from './store/types.ts'

export interface ServerOptions {
  /** Where the embedded SQLite database lives (and the demo's, when mounted). */
  dataDir: string
  /**
   * Keep everything in PostgreSQL instead of SQLite: the schema (default `ringkit`) is created
   * and migrated on start. Nodes that share one database also share their live state through Redis.
   */
  postgres?: { url: string; schema?: string | undefined } | undefined
  port?: number
  host?: string
  /** Fix the default app's credentials instead of generating them on first start. */
  appKey?: string | undefined
  appSecret?: string | undefined
  /** STUN and TURN servers handed to devices; TURN credentials are minted per party and call. */
  ice?: IceConfig
  /**
   * Addresses of reverse proxies whose X-Forwarded-For is believed when counting connections per
   * IP. Without them every socket counts against its peer address, so behind a proxy that doesn't
   * forward the client's, set the per-IP cap on the proxy instead.
   */
  trustedProxies?: string[]
  /** How often the server pings each socket; a socket silent for two beats is dropped. */
  heartbeatMs?: number
  /** How long a dropped device may take to resume before its calls end. */
  resumeGraceMs?: number
  /**
   * How long `drain()` lets calls in progress go on before ending them; default 25 s, so that a
   * node drained on SIGTERM exits within the 30 s process managers usually allow.
   */
  drainTimeoutMs?: number
  /** Bounds on what one client may do or hold; unnamed ones keep `DEFAULT_LIMITS`. */
  limits?: LimitOverrides
  /**
   * Janus servers for group calls (VideoRoom over their WebSocket API, `ws://host:8188`), with the
   * `api_secret` they share. Without them, group calls of up to 4 people run as a mesh.
   */
  janus?: { urls: string[]; apiSecret: string; requestTimeoutMs?: number }
  /**
   * The Redis that the nodes of a cluster share (keys under `prefix`, default `ringkit:`). With it,
   * nonces, rate limits and decline cooldowns count across every node given the same Redis and
   * prefix, and calls' live state and busy accounts live there.
   */
  redis?: RedisConfig
  /**
   * This node's name in the cluster, unique among its nodes; default the host name and a random
   * suffix, new on every start.
   */
  nodeId?: string
  /**
   * App backends' webhooks. `denyPrivate`: refuse endpoints on loopback and private networks (for
   * a server shared by apps that do not trust each other); `attemptTimeoutMs`: default 10 s.
   */
  webhooks?: { denyPrivate?: boolean; attemptTimeoutMs?: number }
  /**
   * Web Push: `subject`, the VAPID contact push services may write to (`mailto:` or `https:`);
   * `endpointAllowed`, which subscription endpoints the server POSTs to (default: the browsers'
   * push services over HTTPS).
   */
  push?: { subject?: string; endpointAllowed?: (url: URL) => boolean }
  logger?: Logger
  /** The call engine's clock (ringing deadlines, record times): tests move it on rather than wait. */
  now?: () => number
  /**
   * Adds routes of an app beside the API on the same port (the CLI mounts the demo this way).
   * Called before listen; `url` is valid once the server listens. `ownApp(name)` is an app kept
   * for the mounted app alone: made on first start, the same one on every start after.
   */
  mount?: (app: FastifyInstance, ctx: MountContext) => Promise<void> | void
}

export interface MountContext {
  url: () => string
  defaultApp: App
  ownApp: (name: string) => Promise<App>
}

export interface RingKitServer {
  /** `http://host:port` */
  url: string
  port: number
  /** This node's name in the cluster (`nodeId`, or the one made up for this start). */
  nodeId: string
  /** The default app, and whether this start created it. */
  defaultApp: App & { created: boolean }
  store: Store
  /** Creates another app on this server. */
  createApp(input?: { name?: string; multiDevice?: boolean }): Promise<App>
  /**
   * Empties the node before it stops: no new logins or calls (SERVER_DRAINING), devices in no call
   * are asked to move (close code 4012), calls in progress go on until they end or `drainTimeoutMs`
   * passes (then they end, with their records). /healthz says `draining`, /readyz answers 503.
   * Resolves once no device is left; call `close()` after. Calling it again returns the same drain.
   */
  drain(): Promise<void>
  close(): Promise<void>
}

export const DEFAULT_SETTINGS = { heartbeatMs: 10_000, resumeGraceMs: 15_000, drainTimeoutMs: 25_000 }
/** How long /readyz waits for the store to answer before calling the node not ready. */
const READY_CHECK_MS = 2_000
const ALIVE_EVERY_MS = 5_000
/** How often a cluster node looks at the calls its devices hold, for one that ended out of their sight. */
const HELD_CALLS_EVERY_MS = 2_000
/**
 * 429, not 503: the refusal is about this client's share, not the server's health, and a 503 would
 * tell load balancers and monitors the node is failing.
 */
const TOO_MANY_CONNECTIONS_BODY = JSON.stringify({
  error: new RingKitError('TOO_MANY_CONNECTIONS').toJSON(),
})
const TOO_MANY_CONNECTIONS_RESPONSE =
  'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json\r\n' +
  `Content-Length: ${Buffer.byteLength(TOO_MANY_CONNECTIONS_BODY)}\r\n\r\n${TOO_MANY_CONNECTIONS_BODY}`

export async function startServer(options: ServerOptions): Promise<RingKitServer> {
  const ice = options.ice ?? {}
  checkIceConfig(ice)
  // Before anything is opened: a refused configuration leaves nothing behind.
  if (options.janus) assertJanusSecret(options.janus.apiSecret)
  const log = options.logger ?? pino({ level: process.env.RINGKIT_LOG_LEVEL ?? 'info' })
  const redis = options.redis ? openRedis(options.redis, redisEvents(log)) : undefined
  const { store, spooledRecords } = await openStore(options, log, redis).catch(async (error: unknown) => {
    await redis?.close()
    throw error
  })
  const metrics = createMetrics(
    () => ({ outbox: registry.heldBytes, keptSignals: engine.keptSignalBytes }),
    spooledRecords,
  )
  const registry = new SessionRegistry()
  const limits = resolveLimits(options.limits)
  // Ringing lasts at most the call's timeout; the allowance after it bounds how long a relayed call lasts.
  const iceForCall = (accid: string, ringingMs = 0) =>
    callIceServers(ice, accid, ringingMs / 1000 + limits.turnCallSeconds)
  const aliveAt = Number(
    await store.getSetting(ALIVE_SETTING).catch(async (error: unknown) => {
      await redis?.close()
      throw error
    }),
  )
  const janus = options.janus
  const sfu =
    janus && janus.urls.length > 0
      ? new SfuCalls({
          ...janus,
          // Several nodes: one room per call whichever node its members are on, spread over every Janus.
          ...(redis ? { rooms: redisSfuRooms(redis) } : {}),
          send: (appKey, callId, device, data) =>
            delivery.send(appKey, { device }, { name: 'sfu', data: { callId, data } }),
          observe: (on, seconds) => metrics.sfuWait.observe({ on }, seconds),
          onCallLost: (appKey, callId) => {
            log.error({ callId }, 'the Janus carrying a group call went away: ending the call')
            engine.act(appKey, callId, { kind: 'mediaServerLost' }).catch(() => {
              // The call ended meanwhile.
            })
          },
        })
      : undefined
  // A connection that keeps reconnecting would keep a process that failed to start alive.
  const orCloseRedis = <T>(step: Promise<T>): Promise<T> =>
    step.catch(async (error: unknown) => {
      // The engine's cluster duties would go on polling a closed connection.
      engine.close()
      await redis?.close()
      throw error
    })
  // In Redis, every node reads and writes one call's state, each write fenced by its version.
  const calls = redis ? redisCallStateStore(redis) : memoryCallStateStore()
  const resumeGraceMs = options.resumeGraceMs ?? DEFAULT_SETTINGS.resumeGraceMs
  const nodeId = options.nodeId ?? defaultNodeId()
  const presence = presenceOf(redis, resumeGraceMs)
  // With Redis, events reach a party's devices on whichever node they are.
  const cluster = redis
    ? new ClusterDelivery({
        link: redis,
        nodeId,
        registry,
        presence,
        log,
        onLost: () => metrics.clusterHopsLost.inc(),
      })
    : undefined
  const delivery: EventDelivery = cluster ?? registry
  const dispatcher = new WebhookDispatcher({
    store,
    log: log.child({ part: 'webhooks' }),
    ...(options.webhooks?.attemptTimeoutMs ? { attemptTimeoutMs: options.webhooks.attemptTimeoutMs } : {}),
  })
  const webhooks = new WebhookOutbox(store, dispatcher, log.child({ part: 'webhooks' }))
  const vapid = await orCloseRedis(vapidKeys(store))
  const ringer = new PushRinger({
    store,
    vapid: { ...vapid, subject: options.push?.subject ?? DEFAULT_VAPID_SUBJECT },
    log: log.child({ part: 'push' }),
  })
  const online = async (appKey: string, accid: string) => (await delivery.onlineDevices(appKey, accid)).length > 0
  const engine = new CallEngine({
    store,
    calls,
    delivery,
    webhooks: callReach(webhooks, ringer, online, log.child({ part: 'push' })),
    onEnded: (s) => {
      metrics.callsEnded.inc({ reason: s.reason })
    },
    onError: (error, callId) => log.error({ err: error, callId }, 'call timer failed'),
    iceServers: iceForCall,
    ...(sfu ? { sfu } : {}),
    ...(options.now ? { now: options.now } : {}),
    maxGroupCallees: limits.groupCallees.perCall,
    // A callee device logging in late may do so on another node than the caller's.
    ringingSignals: redis ? redisRingingSignals(redis, limits.keptSignals) : memoryRingingSignals(limits.keptSignals),
    // Several nodes (PostgreSQL and Redis): ringing deadlines and calls of dead nodes are every
    // node's business. SQLite is one node: its journal is all its own, ended on start as ever.
    ...(redis && options.postgres
      ? {
          cluster: clusterNode(redis, nodeId, presence),
          // The live state is in Redis: a change of a call in progress outlives a PostgreSQL outage.
          journal: deferredJournal(store, {
            owner: nodeId,
            onBehind: (error) =>
              log.warn({ err: error }, 'PostgreSQL is unreachable: journal writes of calls in progress wait for it'),
            onError: (error, callId) => log.error({ err: error, callId }, 'a held-back journal write failed'),
          }),
        }
      : {}),
  })
  const recovered = await orCloseRedis(engine.recover(Number.isFinite(aliveAt) ? aliveAt : undefined))
  if (recovered > 0) {
    log.warn(
      { calls: recovered },
      redis && options.postgres
        ? 'took over the calls of nodes that died'
        : 'ended calls interrupted by the last shutdown',
    )
  }
  // When this run was last known to be up: what a crash recovery dates interrupted calls to.
  const markAlive = () =>
    store.putSetting(ALIVE_SETTING, String(Date.now())).catch((error: unknown) => {
      // The database is away for now; the next beat tries again.
      log.warn({ err: error }, 'could not note that this node is alive')
    })
  await markAlive()
  const aliveTimer = setInterval(() => void markAlive(), ALIVE_EVERY_MS)
  aliveTimer.unref()

  const defaultApp = await orCloseRedis(ensureDefaultApp(store, options))
  const { nonces, rates, cooldowns } = guardPorts(redis)
  const slots = new DeviceSlots({
    presence,
    node: nodeId,
    registry,
    log,
    devicesPerAccount: limits.devicesPerAccount,
    onAccountOffline: async (appKey, accid) =>
      store.markOffline(appKey, accid, Date.now()).catch((error: unknown) => {
        log.warn(
          { err: error, accid },
          'when an account went offline could not be kept: its missed calls count from before',
        )
      }),
  })
  // With Redis, every session is logged there too, so that its device resumes on any node.
  const handoff =
    redis && cluster
      ? new SessionHandoff({
          sessions: new SessionLog({
            link: redis,
            nodeId,
            lifetimeMs: presenceLifetimeMs(resumeGraceMs),
            maxFrames: limits.outbox.frames,
            position: () => cluster.position,
            log,
          }),
          cluster,
          presence,
          link: redis,
          nodeId,
          limits,
          log,
          onMoved: (moved) => gateway.movedElsewhere(moved),
          isHeld: (session) => registry.get(session.appKey, session.accid, session.deviceId) === session,
          holdsHere: (ref) => {
            const held = registry.get(ref.appKey, ref.accid, ref.deviceId)
            return held?.sessionId === ref.sessionId && held.movedTo === undefined
          },
          onEnded: (session) => gateway.endTaken(session),
        })
      : undefined
  // A node stopped (or cut off from Redis) past its devices' presence has lost them to the
  // cluster, which may have ended their calls: its sessions end, and the devices log in anew.
  const refresh = async () => {
    await slots.refresh()
    await handoff?.refresh(registry.all())
  }
  const onLapsed = () => {
    log.warn("this node missed its heartbeats for longer than its devices' presence lasts: moving them")
    for (const session of registry.all()) gateway.moveAway(session)
  }
  const heartbeat = startNodeHeartbeat(
    redis,
    nodeId,
    redis ? refreshWatchingLapse(refresh, presenceLifetimeMs(resumeGraceMs), onLapsed) : refresh,
    (error) =>
      log.warn({ err: error }, "the node heartbeat failed: this node's device slots lapse unless a later beat passes"),
  )
  const guards = new AccountGuards({ limits, rates, cooldowns })
  const gateway = new Gateway({
    store,
    engine,
    registry,
    log,
    metrics,
    heartbeatMs: options.heartbeatMs ?? DEFAULT_SETTINGS.heartbeatMs,
    resumeGraceMs,
    limits,
    guards,
    sessionIceServers: sessionIceServers(ice),
    callIceServers: iceForCall,
    slots,
    ...(cluster
      ? { kickElsewhere: cluster.kickElsewhere.bind(cluster), replaceOn: cluster.replaceOn.bind(cluster) }
      : {}),
    ...(handoff ? { handoff } : {}),
    reach: deviceReach(store, vapid.publicKey, options.push?.endpointAllowed),
  })
  // A call's end lost with a node that died: its record shows it, and the device is told.
  const heldCalls = cluster ? everyFew(HELD_CALLS_EVERY_MS, () => gateway.settleHeldCalls()) : undefined
  cluster?.onKick((appKey, accid, reason, except) => gateway.kickAccount(appKey, accid, reason, except))
  cluster?.onReplace((appKey, accid, deviceId) => gateway.replacedElsewhere(appKey, accid, deviceId))
  cluster?.onMoved((moved) => gateway.movedElsewhere(moved))
  const http = Fastify({
    loggerInstance: log.child({ part: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    ...httpTimeouts(limits.http),
  })
  registerRoutes(http, {
    store,
    nonces,
    metrics,
    rates,
    restRate: limits.rest,
    webhooks: { denyPrivate: options.webhooks?.denyPrivate ?? false, changed: (appKey) => webhooks.forget(appKey) },
    declineFromPush: async (token) => {
      const { appKey, callId, accid } = await ringer.verifyDecline(token)
      // No device of the account is online: the notification declines for the account, and the
      // caller may not ring again at once, as after a decline in the app.
      const call = await engine.act(appKey, callId, { kind: 'reject', by: { accid, deviceId: 'push' } })
      await guards.declined(appKey, call.caller.accid, accid)
    },
    kickAccount: async (appKey, accid) => {
      // A revoked account's closed pages are not rung either: a stolen browser hears nothing more.
      await store.deletePushSubscription(appKey, accid)
      gateway.kickAccount(appKey, accid, 'revoked')
      await cluster?.revokeElsewhere(appKey, accid)
    },
    node: {
      draining: () => gateway.draining,
      // Cheap reads with a deadline: a node whose store or Redis hangs takes no traffic.
      ready: async () => {
        await withDeadline(store.getSetting('defaultAppKey'), READY_CHECK_MS, 'STORE_UNAVAILABLE')
        // The link has its own deadline and answers CLUSTER_UNAVAILABLE when Redis is gone.
        await redis?.run((client) => client.ping())
      },
    },
  })
  registerBrowserBundle(http)
  registerServiceWorker(http)

  // Frames above the protocol's limit still get a FRAME_TOO_LARGE reply; past this, the socket closes.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false })
  const perIp = new IpConnections(limits.connectionsPerIp)
  const proxies = proxySet(options.trustedProxies ?? [])
  http.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== SIGNAL_ROUTE.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n')
      return
    }
    const ip = clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], proxies)
    if (!perIp.open(ip)) return void socket.end(TOO_MANY_CONNECTIONS_RESPONSE)
    socket.once('close', () => perIp.close(ip))
    wss.handleUpgrade(request, socket, head, (ws) => gateway.accept(ws))
  })

  let url = ''
  try {
    await options.mount?.(http, {
      url: () => {
        if (!url) throw new Error('the server URL is known once it listens')
        return url
      },
      defaultApp,
      ownApp: (name) => ensureNamedApp(store, name),
    })
    await cluster?.start()
    await http.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' })
  } catch (error) {
    // A connection that keeps reconnecting would keep a process that failed to start alive.
    heartbeat.stop()
    heldCalls?.stop()
    engine.close()
    await redis?.close()
    throw error
  }
  const { port } = http.server.address() as AddressInfo
  const host = options.host === undefined || options.host === '0.0.0.0' ? '127.0.0.1' : options.host
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  log.info({ port }, 'RingKit listening')
  dispatcher.start()

  let draining: Promise<void> | undefined
  let closing = false
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_SETTINGS.drainTimeoutMs
  return {
    url,
    port,
    nodeId,
    defaultApp,
    store,
    createApp: (input = {}) => createApp(store, input),
    drain() {
      if (!draining) {
        log.info({ timeoutMs: drainTimeoutMs }, 'draining: no new logins or calls')
        const timeoutMs = drainTimeoutMs
        draining = drainNode({ gateway, registry, calls, engine, log, timeoutMs, closing: () => closing })
      }
      return draining
    },
    async close() {
      closing = true
      clearInterval(aliveTimer)
      await markAlive()
      // Without a drain the node leaves as a dead one does: its devices' slots expire, unfreed.
      heartbeat.stop()
      heldCalls?.stop()
      slots.close()
      gateway.close()
      engine.close()
      await dispatcher.close()
      await sfu?.shutdown()
      wss.close()
      await http.close()
      await cluster?.close()
      await store.close()
      await redis?.close()
    },
  }
}

/** Where the guards count: in Redis, shared by the nodes, or in this process. */
function guardPorts(redis: RedisLink | undefined) {
  return redis
    ? { nonces: redisNonceStore(redis), rates: redisRateLimiter(redis), cooldowns: redisCooldowns(redis) }
    : { nonces: memoryNonceStore(), rates: memoryRateLimiter(), cooldowns: memoryCooldowns() }
}

/**
 * Where devices are (and the device cap is counted): in Redis for the cluster or in memory for one
 * node. A slot outlives its node's last heartbeat by about three heartbeats and the resume grace:
 * a device of a node that died keeps its slot while it resumes elsewhere, and frees it if it does
 * not, which is also when a call taken over from that node ends for want of it.
 */
function presenceOf(redis: RedisLink | undefined, resumeGraceMs: number): Presence {
  const lifetimeMs = presenceLifetimeMs(resumeGraceMs)
  return redis ? redisPresence(redis, { lifetimeMs }) : memoryPresence({ lifetimeMs })
}

/** How long a device's slot, and its session's log, outlive their node's last heartbeat. */
const presenceLifetimeMs = (resumeGraceMs: number) => 3 * NODE_HEARTBEAT_MS + resumeGraceMs

function redisEvents(log: Logger) {
  return {
    onDown: (error: Error) =>
      log.error({ err: error }, 'Redis is unreachable: new calls and REST requests fail until it is back'),
    onUp: () => log.info('Redis is reachable again'),
  }
}

/**
 * SQLite, or PostgreSQL with a spool in the data dir for the records due while the database is
 * unreachable. `spooledRecords`: how many the spool holds (SQLite, in the same process, has none).
 */
async function openStore(
  options: ServerOptions,
  log: Logger,
  redis: RedisLink | undefined,
): Promise<{ store: Store; spooledRecords: () => number }> {
  if (!options.postgres) return { store: openSqliteStore(options.dataDir), spooledRecords: () => 0 }
  const postgres = await openPostgresStore({
    ...options.postgres,
    onError: (error) => log.warn({ err: error }, 'a PostgreSQL connection failed; the pool opens another'),
  })
  try {
    const store = await withRecordSpool(postgres, {
      dir: join(options.dataDir, RECORD_SPOOL_DIR),
      onSpooled: (callId, error) =>
        log.warn({ err: error, callId }, 'PostgreSQL is unreachable: the call record is spooled until it is back'),
      onError: (error, callId) => log.error({ err: error, callId }, 'a spooled call record could not be written'),
      // Shared by the nodes: a node that dies with records spooled does not take them with it.
      ...(redis ? { shared: redisSharedSpool(redis) } : {}),
      onSharedError: (error, callId) =>
        log.warn({ err: error, callId }, 'a spooled call record could not be kept in Redis; it is kept on this node'),
    })
    return { store, spooledRecords: () => store.spooledRecords }
  } catch (error) {
    await postgres.close()
    throw error
  }
}

async function ensureDefaultApp(store: Store, o: ServerOptions): Promise<App & { created: boolean }> {
  if (o.appKey || o.appSecret) {
    if (!o.appKey || !o.appSecret) throw new Error('RINGKIT_APP_KEY and RINGKIT_APP_SECRET go together')
    const existing = await store.getApp(o.appKey)
    const app: App = existing
      ? { ...existing, appSecret: o.appSecret }
      : { appKey: o.appKey, appSecret: o.appSecret, name: 'default', multiDevice: true, createdAt: Date.now() }
    await store.putApp(app)
    await store.putSetting('defaultAppKey', app.appKey)
    return { ...app, created: !existing }
  }
  const key = await store.getSetting('defaultAppKey')
  const existing = key === undefined ? undefined : await store.getApp(key)
  if (existing) return { ...existing, created: false }
  const app = await createApp(store, { name: 'default' })
  await store.putSetting('defaultAppKey', app.appKey)
  return { ...app, created: true }
}

/** The app kept under `name` (its AppKey in a setting), made the first time it is asked for. */
async function ensureNamedApp(store: Store, name: string): Promise<App> {
  const setting = `appKey:${name}`
  const key = await store.getSetting(setting)
  const existing = key === undefined ? undefined : await store.getApp(key)
  if (existing) return existing
  const app = await createApp(store, { name })
  await store.putSetting(setting, app.appKey)
  return app
}

export async function createApp(store: Store, input: { name?: string; multiDevice?: boolean }): Promise<App> {
  const app: App = {
    appKey: randomBytes(16).toString('hex'),
    appSecret: randomBytes(24).toString('hex'),
    name: input.name ?? 'app',
    multiDevice: input.multiDevice ?? true,
    createdAt: Date.now(),
  }
  await store.putApp(app)
  return app
}

/** Rejects with `code` if `promise` does not settle within `ms`, or fails. */
async function withDeadline(promise: Promise<unknown>, ms: number, code: 'STORE_UNAVAILABLE'): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new RingKitError(code, `no answer within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([promise, late])
  } catch (error) {
    throw error instanceof RingKitError ? error : new RingKitError(code, undefined, { cause: error })
  } finally {
    clearTimeout(timer)
  }
}

/** Runs `task` every `ms`, never two at once; a failure is the task's own to log. */
function everyFew(ms: number, task: () => Promise<void>): { stop(): void } {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    void task().finally(() => (running = false))
  }, ms)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
