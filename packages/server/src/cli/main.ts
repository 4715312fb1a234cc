import { parseArgs } from 'node:util'
import { MAX_GROUP_MEMBERS, MAX_MESH_MEMBERS } from '@ringkit/protocol'
import { resolve } from 'node:path'
import { DEFAULT_REDIS_PREFIX } from '../bus/redis.ts'
import { makePrivateDir } from '../store/private-files.ts'
import { DEFAULT_PG_SCHEMA } from '../store/pg-pool.ts'
import { openPostgresStore } from '../store/postgres.ts'
import { openSqliteStore } from '../store/sqlite.ts'
import { migrateFromSqlite } from './migrate.ts'
import { chooseStore } from './stores.ts'
import { createApp, startServer, type RingKitServer, type ServerOptions } from '../server.ts'

const HELP = `ringkit — self-hosted audio/video calling server

Usage:
  ringkit serve [--port N] [--host ADDR] [--data-dir DIR] [--janus URLS] [--no-demo] [--drain-seconds N]
  ringkit serve --postgres URL --redis URL [--schema NAME] [--redis-prefix P] [--node-id NAME] [...]
  ringkit app create [--name NAME] [--single-device] [--data-dir DIR | --postgres URL [--schema NAME]]
  ringkit migrate --from-sqlite DATA_DIR --postgres URL [--schema NAME]
  ringkit --help

Options (environment variable in brackets):
  --port N          port to listen on (RINGKIT_PORT, default 3000)
  --host ADDR       address to bind (RINGKIT_HOST, default 0.0.0.0)
  --data-dir DIR    where the SQLite database lives (RINGKIT_DATA_DIR, default ./.ringkit); a dir
                    of RingKit's own, made readable by this user only
  --postgres URL    keep everything in PostgreSQL instead of SQLite, e.g. postgres://user@host/db
                    (RINGKIT_POSTGRES_URL). For several nodes on one database: serve needs --redis
                    too (RINGKIT_REDIS_URL). Without both, one node keeps its data in SQLite
  --schema NAME     the PostgreSQL schema (RINGKIT_PG_SCHEMA, default ringkit): lowercase letters,
                    digits and _; created and migrated on start. Nodes of one cluster share it
  --from-sqlite DIR migrate: the data dir of a stopped SQLite server, whose apps, settings, accounts
                    and call records are copied into PostgreSQL; running it again copies nothing twice
  --stun URLS       comma-separated STUN URLs for devices (RINGKIT_STUN_URLS)
  --turn URLS       comma-separated TURN URLs, e.g. turn:turn.example.com:3478 (RINGKIT_TURN_URLS)
  --turn-secret S   coturn static-auth-secret: the parties of a call get TURN credentials for it
                    (RINGKIT_TURN_SECRET; valid while it rings and RINGKIT_TURN_CALL_SECONDS
                    after, default 14400)
                    Prefer the variable: a command line is visible to every user (ps)
  --janus URLS      comma-separated Janus WebSocket URLs for group calls, e.g. ws://127.0.0.1:8188
                    (RINGKIT_JANUS_URLS); calls are spread across them. Without Janus, group
                    calls of up to ${MAX_MESH_MEMBERS} people run peer to peer
  --janus-secret S  the api_secret in the Janus servers' janus.jcfg (RINGKIT_JANUS_SECRET; prefer
                    the variable, as for --turn-secret). The shipped placeholder is refused
  --redis URL       the Redis the nodes of a cluster share, e.g. redis://127.0.0.1:6379
                    (RINGKIT_REDIS_URL): nonces, rate limits, decline cooldowns and device caps
                    count across every node given the same Redis and prefix
  --redis-prefix P  put before every key (RINGKIT_REDIS_PREFIX, default ringkit:)
  --node-id NAME    this node's name in the cluster, unique among its nodes (RINGKIT_NODE_ID;
                    letters, digits, . _ -; default the host name and a random suffix)
  --webhook-deny-private
                    refuse webhook endpoints on loopback and private networks
                    (RINGKIT_WEBHOOK_DENY_PRIVATE=1), for a server shared by untrusted apps
  --vapid-subject S the contact push services may write to about this server's pushes, mailto: or
                    https: (RINGKIT_VAPID_SUBJECT; default mailto:push@ringkit.invalid, which
                    some push services refuse: set your own)
  --no-demo         do not serve the demo app at / (RINGKIT_DEMO=0); when served, the demo
                    keeps its users in demo.sqlite and maps them to accounts of the default app
  --drain-seconds N on SIGTERM or SIGINT, how long calls in progress may go on before they end
                    (RINGKIT_DRAIN_SECONDS, default 25); a second signal exits at once
  --name NAME       name of a new app
  --single-device   a new login of an account kicks its other device

Environment:
  RINGKIT_APP_KEY / RINGKIT_APP_SECRET   fix the default app's credentials
  RINGKIT_LOG_LEVEL                      pino log level (default info)
  RINGKIT_TRUSTED_PROXIES                comma-separated proxy addresses whose X-Forwarded-For
                                         counts for the per-IP connection cap
`

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      name: { type: 'string' },
      'single-device': { type: 'boolean' },
      stun: { type: 'string' },
      turn: { type: 'string' },
      'turn-secret': { type: 'string' },
      janus: { type: 'string' },
      'janus-secret': { type: 'string' },
      'no-demo': { type: 'boolean' },
      'webhook-deny-private': { type: 'boolean' },
      'vapid-subject': { type: 'string' },
      'drain-seconds': { type: 'string' },
      redis: { type: 'string' },
      'redis-prefix': { type: 'string' },
      'node-id': { type: 'string' },
      postgres: { type: 'string' },
      schema: { type: 'string' },
      'from-sqlite': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const env = process.env
  const dataDir = resolve(values['data-dir'] ?? env.RINGKIT_DATA_DIR ?? '.ringkit')
  const [command, sub] = positionals
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP)
    return command === undefined && !values.help ? 1 : 0
  }
  // Everything this process writes (the databases, the demo's too, and their logs) holds secrets
  // or records: files 0600 and dirs 0700, whoever creates them.
  process.umask(0o077)
  const postgres = values.postgres ?? env.RINGKIT_POSTGRES_URL
  const schema = values.schema ?? env.RINGKIT_PG_SCHEMA
  if (command === 'serve') {
    const stores = chooseStore({ postgres, redis: values.redis ?? env.RINGKIT_REDIS_URL, schema })
    const port = Number(values.port ?? env.RINGKIT_PORT ?? 3000)
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`--port must be 0 to 65535, got ${values.port}`)
    const demo = !values['no-demo'] && env.RINGKIT_DEMO !== '0'
    const drainSeconds = Number(values['drain-seconds'] ?? env.RINGKIT_DRAIN_SECONDS ?? 25)
    if (!Number.isFinite(drainSeconds) || drainSeconds < 0)
      throw new Error(`--drain-seconds must be a number of seconds, got ${values['drain-seconds']}`)
    const janusUrls = list(values.janus ?? env.RINGKIT_JANUS_URLS)
    const janusSecret = values['janus-secret'] ?? env.RINGKIT_JANUS_SECRET
    if (janusUrls.length > 0 && !janusSecret)
      throw new Error('--janus needs RINGKIT_JANUS_SECRET (the api_secret in janus.jcfg)')
    for (const flag of ['turn-secret', 'janus-secret'] as const) {
      if (values[flag] === undefined) continue
      const variable = `RINGKIT_${flag.replace('-', '_').toUpperCase()}`
      process.stderr.write(`ringkit: --${flag} is visible to every user of this host (ps); prefer ${variable}\n`)
    }
    const vapidSubject = values['vapid-subject'] ?? env.RINGKIT_VAPID_SUBJECT
    if (vapidSubject !== undefined && !/^(mailto:|https:\/\/)/.test(vapidSubject))
      throw new Error(`--vapid-subject must be a mailto: or https: URL, got ${vapidSubject}`)
    const redis = redisOption(values.redis, values['redis-prefix'])
    const nodeId = nodeIdOption(values['node-id'] ?? env.RINGKIT_NODE_ID)
    let demoServed = false
    const server = await startServer({
      dataDir,
      ...stores,
      port,
      host: values.host ?? env.RINGKIT_HOST ?? '0.0.0.0',
      appKey: env.RINGKIT_APP_KEY,
      appSecret: env.RINGKIT_APP_SECRET,
      ice: {
        stunUrls: list(values.stun ?? env.RINGKIT_STUN_URLS),
        turnUrls: list(values.turn ?? env.RINGKIT_TURN_URLS),
        turnSecret: values['turn-secret'] ?? env.RINGKIT_TURN_SECRET,
      },
      ...(env.RINGKIT_TURN_CALL_SECONDS ? { limits: { turnCallSeconds: Number(env.RINGKIT_TURN_CALL_SECONDS) } } : {}),
      trustedProxies: list(env.RINGKIT_TRUSTED_PROXIES),
      drainTimeoutMs: drainSeconds * 1000,
      ...(vapidSubject ? { push: { subject: vapidSubject } } : {}),
      webhooks: { denyPrivate: values['webhook-deny-private'] === true || env.RINGKIT_WEBHOOK_DENY_PRIVATE === '1' },
      ...(janusUrls.length > 0 && janusSecret ? { janus: { urls: janusUrls, apiSecret: janusSecret } } : {}),
      ...(redis ? { redis } : {}),
      ...(nodeId ? { nodeId } : {}),
      ...(demo ? { mount: mountDemo(dataDir, () => (demoServed = true)) } : {}),
    })
    const where = stores.postgres ? `PostgreSQL schema "${stores.postgres.schema ?? DEFAULT_PG_SCHEMA}"` : dataDir
    const lines = [`RingKit is serving at ${server.url} (data in ${where})`]
    if (demoServed) lines.push(`Demo app: ${server.url}/`)
    lines.push(
      janusUrls.length > 0
        ? `Group calls through Janus at ${janusUrls.join(', ')}`
        : `Group calls of up to ${MAX_MESH_MEMBERS} people run peer to peer (--janus for up to ${MAX_GROUP_MEMBERS})`,
    )
    if (redis) lines.push(`Nonces and limits shared through Redis at ${redact(redis.url)} (prefix ${redis.prefix})`)
    if (redis) lines.push(`This node is ${server.nodeId} in the cluster; device caps count across its nodes`)
    if (server.defaultApp.created && env.RINGKIT_APP_SECRET) {
      // A secret the operator chose is theirs already; printing it only puts it in logs.
      lines.push(
        `Created the default app with the AppKey and AppSecret from the environment: AppKey ${server.defaultApp.appKey}`,
      )
    } else if (server.defaultApp.created) {
      lines.push(
        'Created the default app. Keep these; they are stored in the data dir and not printed again:',
        `  AppKey:    ${server.defaultApp.appKey}`,
        `  AppSecret: ${server.defaultApp.appSecret}`,
      )
    } else {
      lines.push(`Default app: AppKey ${server.defaultApp.appKey}`)
    }
    process.stdout.write(lines.join('\n') + '\n')
    stopOnSignals(server)
    return -1
  }
  if (command === 'app' && sub === 'create') {
    const store = postgres ? await openPostgresStore({ url: postgres, schema }) : openSqliteStore(dataDir)
    const app = await createApp(store, { name: values.name ?? 'app', multiDevice: !values['single-device'] })
    await store.close()
    process.stdout.write(`AppKey:    ${app.appKey}\nAppSecret: ${app.appSecret}\nmultiDevice: ${app.multiDevice}\n`)
    return 0
  }
  if (command === 'migrate') {
    const fromSqlite = values['from-sqlite']
    process.stdout.write(await migrateFromSqlite({ fromSqlite, postgres, schema }))
    return 0
  }
  process.stderr.write(`unknown command: ${positionals.join(' ')}\n\n${HELP}`)
  return 1
}

/**
 * The first SIGTERM or SIGINT drains the node (devices move, calls in progress may end), then
 * closes it and exits 0; a second one exits at once.
 */
function stopOnSignals(server: Pick<RingKitServer, 'drain' | 'close'>): void {
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`ringkit: ${signal} again: exiting without waiting for calls to end\n`)
      process.exit(signal === 'SIGINT' ? 130 : 143)
    }
    stopping = true
    process.stdout.write(`${signal}: draining (no new logins or calls; a second signal exits at once)\n`)
    server
      .drain()
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`ringkit: stopping failed: ${error instanceof Error ? error.message : String(error)}\n`)
          process.exit(1)
        },
      )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/** The part of the private demo package the CLI uses; it is found only inside the RingKit repository. */
interface DemoModule {
  registerDemo(
    app: Parameters<NonNullable<ServerOptions['mount']>>[0],
    options: { dataDir: string; ringkitUrl: () => string; appKey: string; appSecret: string },
  ): void
}
// A computed specifier: an installed @ringkit/server neither depends on nor type-checks the demo.
const DEMO_PACKAGE = '@ringkit/demo'

/**
 * The demo is an app like any other, with an app of its own: anyone may sign up to it, so its
 * users must not be able to ring the accounts of the app a real backend uses. It calls the REST API.
 * Loaded only when mounted, so `--no-demo` needs neither esbuild nor the demo's pages; where the demo
 * package is not installed (any install from the registry), the server runs without it.
 */
function mountDemo(dataDir: string, onMounted: () => void): ServerOptions['mount'] {
  return async (app, { url, ownApp }) => {
    // The umask makes a new demo.sqlite private; one an older version made may not be.
    makePrivateDir(dataDir, ['demo.sqlite'])
    const demo = await import(DEMO_PACKAGE).then(
      (module: DemoModule) => module,
      (error: unknown) => {
        const code = (error as { code?: unknown }).code
        // Missing in any install from the registry; TypeScript only, inside the repository, run compiled.
        if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error
        process.stdout.write(`The demo app is not available here (${code}): serving the API alone.\n`)
        return undefined
      },
    )
    if (!demo) return
    const demoApp = await ownApp('demo')
    demo.registerDemo(app, { dataDir, ringkitUrl: url, appKey: demoApp.appKey, appSecret: demoApp.appSecret })
    onMounted()
  }
}

/** A name that sits in Redis keys and logs as it is. */
function nodeIdOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(value))
    throw new Error(
      `--node-id takes 1 to 64 letters, digits, dots, dashes and underscores, got ${JSON.stringify(value)}`,
    )
  return value
}

/** `--redis` / `--redis-prefix`, or the variables; a password on the command line is visible to every user. */
function redisOption(flag: string | undefined, prefixFlag: string | undefined): ServerOptions['redis'] {
  const url = flag ?? process.env.RINGKIT_REDIS_URL
  const prefix = prefixFlag ?? process.env.RINGKIT_REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX
  if (!url) {
    if (prefixFlag !== undefined) throw new Error('--redis-prefix needs --redis (or RINGKIT_REDIS_URL)')
    return undefined
  }
  if (!URL.canParse(url)) throw new Error(`--redis must be a URL such as redis://host:6379, got ${redact(url)}`)
  if (flag !== undefined && new URL(url).password) {
    process.stderr.write(
      'ringkit: --redis with a password is visible to every user of this host (ps); prefer RINGKIT_REDIS_URL\n',
    )
  }
  return { url, prefix }
}

function redact(url: string): string {
  if (!URL.canParse(url)) return '(not a URL)'
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (error: unknown) => {
    // A RingKit error's message is for API users; the operator here also wants what lies under it.
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : ''
    process.stderr.write(`ringkit: ${error instanceof Error ? error.message : String(error)}${cause}\n`)
    process.exitCode = 1
  },
)
