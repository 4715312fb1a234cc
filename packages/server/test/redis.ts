import { randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { openRedis, type RedisConfig, type RedisLink } from '../src/bus/redis.ts'
import { freePort } from './services.ts'

const DEFAULT_URL = 'redis://127.0.0.1:6379'

/**
 * The Redis the suites run against (RINGKIT_TEST_REDIS_URL). Where none answers, suites skip with a
 * line naming what to install; with RINGKIT_REQUIRE_ALL=1 (CI) they fail instead.
 */
export async function testRedis(): Promise<{ url: string; skip: false | string }> {
  const url = process.env.RINGKIT_TEST_REDIS_URL ?? DEFAULT_URL
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
    return { url, skip: false }
  } catch {
    const why = `Redis not reachable at ${url}: install redis-server (or set RINGKIT_TEST_REDIS_URL)`
    if (process.env.RINGKIT_REQUIRE_ALL === '1') throw new Error(`required for this suite: ${why}`)
    return { url, skip: why }
  } finally {
    probe.disconnect()
  }
}

/** One test's share of Redis: a random key prefix, its connections, and every key it made dropped after. */
export interface RedisScope {
  url: string
  prefix: string
  /** A new connection under the prefix, as one more node would open. */
  open(config?: Partial<RedisConfig>): RedisLink
  /** Keys under the prefix, the prefix included. */
  keys(): Promise<string[]>
  /** Closes the connections and deletes every key under the prefix. */
  drop(): Promise<void>
}

export function redisScope(url: string): RedisScope {
  const prefix = `ringkit-test:${randomBytes(6).toString('hex')}:`
  const links: RedisLink[] = []
  const keys = async () => {
    const raw = new Redis(url, { maxRetriesPerRequest: 1 })
    try {
      const found: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
        cursor = next
        found.push(...batch)
      } while (cursor !== '0')
      return found
    } finally {
      raw.disconnect()
    }
  }
  return {
    url,
    prefix,
    open(config = {}) {
      const link = openRedis({ url, prefix, ...config })
      links.push(link)
      return link
    },
    keys,
    async drop() {
      await Promise.all(links.splice(0).map((link) => link.close()))
      const found = await keys()
      if (found.length === 0) return
      const raw = new Redis(url, { maxRetriesPerRequest: 1 })
      try {
        for (let i = 0; i < found.length; i += 500) await raw.unlink(...found.slice(i, i + 500))
      } finally {
        raw.disconnect()
      }
    },
  }
}

/**
 * A TCP hop to the real Redis that can be cut and restored on the same port, as a network outage
 * would. Cut it at the end of a test: a listening hop keeps the test process alive.
 */
export async function redisHop(target: URL): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void> }> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const restore = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname)
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('error', () => {})
        s.on('close', () => sockets.delete(s))
      }
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve))
  }
  await restore()
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return {
    url: url.toString(),
    restore,
    async cut() {
      if (!server?.listening) return
      const closed = new Promise((resolve) => server!.close(resolve))
      for (const s of sockets) s.destroy()
      await closed
    },
  }
}
