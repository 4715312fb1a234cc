/**
 * How a server reaches Redis: apart from the connection itself (`redis.ts`), so that the public
 * types name it without loading the Redis client's declarations into an app's type check.
 */
export const DEFAULT_REDIS_PREFIX = 'ringkit:'

export interface RedisConfig {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string
  /** Put before every key, so that several clusters (or tests) can share one Redis. */
  prefix?: string | undefined
  commandTimeoutMs?: number | undefined
}
