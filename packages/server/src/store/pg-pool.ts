import pg from 'pg'
import { RingKitError } from '@ringkit/protocol'

/** Lowercase, unquoted-identifier shape: what can be put in SQL between double quotes as is. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/
export const DEFAULT_PG_SCHEMA = 'ringkit'

export interface PgOptions {
  /** `postgres://user:password@host:port/database` */
  url: string
  /** The schema RingKit's tables live in, created on first open. Default `ringkit`. */
  schema?: string | undefined
  /** Connections this process keeps open at most (default 10). */
  maxConnections?: number
  /** Told when an idle connection fails (the server restarted, the network dropped): the pool replaces it. */
  onError?: (error: Error) => void
}

/** Bounds so that a store call against an unreachable or stuck PostgreSQL fails instead of hanging. */
const CONNECT_TIMEOUT_MS = 3_000
const STATEMENT_TIMEOUT_MS = 10_000
/** Client side, a little above the server's own limit: also catches a connection that went silent. */
const QUERY_TIMEOUT_MS = 12_000

/** The schema name, double-quoted for SQL; any name outside the strict pattern is refused. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `the PostgreSQL schema must match ${SCHEMA_NAME.source} (lowercase letters, digits and _), got "${schema}"`,
    )
  }
  return `"${schema}"`
}

export function openPool(o: PgOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.maxConnections ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    idle_in_transaction_session_timeout: STATEMENT_TIMEOUT_MS,
    keepAlive: true,
    // Which connections are whose, in pg_stat_activity.
    application_name: `ringkit/${o.schema ?? DEFAULT_PG_SCHEMA}`,
  })
  // Without a listener, an idle connection's error would crash the process.
  pool.on('error', (error) => o.onError?.(error))
  return pool
}

/**
 * SQLSTATE classes that say the database cannot be reached or cannot serve now, as opposed to a
 * statement it refused: connection exceptions, insufficient resources, operator intervention
 * (shutdown, restart, a canceled or timed-out statement).
 */
const UNAVAILABLE_CLASSES = ['08', '53', '57']

/**
 * Errors of a lost or refused connection become STORE_UNAVAILABLE: an SQLSTATE of those classes, a
 * socket error (ECONNREFUSED, ETIMEDOUT...), or pg's own connect and query timeouts and closed
 * connections, which carry no code. Anything else (a statement refused, a bug) is left as it is.
 */
export function storeError(error: unknown): unknown {
  if (error instanceof RingKitError || !(error instanceof Error)) return error
  const code = (error as { code?: unknown }).code
  const unavailable =
    typeof code === 'string'
      ? /^[0-9A-Z]{5}$/.test(code)
        ? UNAVAILABLE_CLASSES.includes(code.slice(0, 2))
        : /^E[A-Z]+$/.test(code)
      : PG_CONNECTION_MESSAGE.test(error.message)
  return unavailable ? new RingKitError('STORE_UNAVAILABLE', undefined, { cause: error }) : error
}

/** What pg says, without a code, when a connection could not be made or was lost. */
const PG_CONNECTION_MESSAGE = /connection|timeout|terminated|not queryable/i

export interface Db {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T>
}

export function db(pool: pg.Pool): Db {
  return {
    async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      try {
        return await pool.query<R>(text, values)
      } catch (error) {
        throw storeError(error)
      }
    },
    async transaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (error) {
        throw storeError(error)
      }
      try {
        await client.query('BEGIN')
        const result = await work(client)
        await client.query('COMMIT')
        client.release()
        return result
      } catch (error) {
        // A connection whose rollback fails is broken: the pool drops it instead of lending it again.
        const rolledBack = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        )
        client.release(rolledBack ? undefined : true)
        throw storeError(error)
      }
    },
  }
}
