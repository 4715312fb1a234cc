import { randomBytes } from 'node:crypto'
import { createServer, connect, type Server, type Socket } from 'node:net'
import pg from 'pg'

export const TEST_POSTGRES_URL = process.env.RINGKIT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface TestPostgres {
  url: string
  /** A fresh schema name, unused so far; every one handed out is dropped by `dropSchemas`. */
  schema(): string
  /** Runs one statement on the test database, outside any store. */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>
  /** Drops every schema handed out, with what is in it. */
  dropSchemas(): Promise<void>
}

/**
 * The PostgreSQL the store suites run against (RINGKIT_TEST_POSTGRES_URL). When it cannot be
 * reached the suites skip with a line saying what to install; with RINGKIT_REQUIRE_ALL=1 (CI)
 * they fail instead.
 */
export async function testPostgres(): Promise<TestPostgres | { skip: string }> {
  const url = TEST_POSTGRES_URL
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await probe.connect()
    await probe.query('SELECT 1')
  } catch (error) {
    const why = `PostgreSQL not reachable at ${url}: install postgresql (or set RINGKIT_TEST_POSTGRES_URL)`
    if (process.env.RINGKIT_REQUIRE_ALL === '1') throw new Error(`required for this suite: ${why}`, { cause: error })
    return { skip: why }
  } finally {
    await probe.end().catch(() => {})
  }
  const admin = new pg.Pool({ connectionString: url, max: 2 })
  admin.on('error', () => {
    // An idle admin connection dropped: the next query opens another.
  })
  const handedOut = new Set<string>()
  return {
    url,
    schema() {
      const name = `ringkit_test_${randomBytes(6).toString('hex')}`
      handedOut.add(name)
      return name
    },
    query: (text, values) => admin.query(text, values),
    async dropSchemas() {
      for (const name of handedOut) await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
      handedOut.clear()
      await admin.end()
    },
  }
}

/** The options of `describe` or `it` for a suite on the test PostgreSQL: skipped when it is not there. */
export function skipUnless(target: TestPostgres | { skip: string }): { skip?: string } {
  return 'skip' in target ? { skip: target.skip } : {}
}

export interface PgOutage {
  /** A URL to the test database through this proxy. */
  url: string
  /** Cuts every connection and refuses new ones, as a network outage or a stopped server would. */
  cut(): Promise<void>
  /** Lets connections through again, on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
}

/** A TCP proxy in front of the test PostgreSQL, to take the database away from a store and give it back. */
export async function pgOutage(url: string): Promise<PgOutage> {
  const target = new URL(url)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const listen = async () => {
    const s = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve))
    port = (s.address() as { port: number }).port
    server = s
  }
  const cut = async () => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (s) await new Promise((resolve) => s.close(resolve))
  }
  await listen()
  const proxied = new URL(url)
  proxied.hostname = '127.0.0.1'
  proxied.port = String(port)
  return { url: proxied.href, cut, restore: listen, close: cut }
}
