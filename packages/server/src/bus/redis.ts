import { Redis, type RedisOptions } from 'ioredis'
import { RingKitError } from '@ringkit/protocol'
import { DEFAULT_REDIS_PREFIX, type RedisConfig } from './redis-config.ts'

export { DEFAULT_REDIS_PREFIX, type RedisConfig }
/** How long one command may take, waiting for a connection included: a Redis that is gone fails fast. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2000

export interface RedisEvents {
  /** The connection failed; called once per outage, not once per reconnect attempt. */
  onDown?: (error: Error) => void
  /** The connection is back after an outage. */
  onUp?: () => void
}

/** A Lua script run atomically in Redis: `keys` get the link's prefix, `args` do not. */
export type RedisScript = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>

/**
 * One node's connection to the state the nodes share. Every command has a deadline and every
 * failure to reach Redis rejects with `CLUSTER_UNAVAILABLE`, so that nothing waits on a Redis that
 * is gone; the connection keeps trying to come back by itself.
 */
export interface RedisLink {
  readonly prefix: string
  /** Commands on it are prefixed; prefer `run`, which maps failures to `CLUSTER_UNAVAILABLE`. */
  readonly client: Redis
  run<T>(command: (client: Redis) => Promise<T>): Promise<T>
  /** A script defined once on the connection (EVALSHA, loaded again after a Redis restart). */
  script(name: string, lua: string): RedisScript
  /** A further connection with the same settings and prefix, for blocking reads or pub/sub. */
  duplicate(): Redis
  close(): Promise<void>
}

export function redisOptions(config: RedisConfig): RedisOptions {
  const commandTimeout = config.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS
  return {
    keyPrefix: config.prefix ?? DEFAULT_REDIS_PREFIX,
    connectTimeout: commandTimeout,
    commandTimeout,
    // A command waits for at most one reconnect, then fails; commandTimeout bounds it anyway.
    maxRetriesPerRequest: 1,
    // Reconnect forever, at most 2 s apart: the cluster recovers by itself when Redis returns.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  }
}

export function openRedis(config: RedisConfig, events: RedisEvents = {}): RedisLink {
  const options = redisOptions(config)
  const client = watch(new Redis(config.url, options), events)
  const extra = new Set<Redis>()
  const defined = new Set<string>()

  const run = async <T>(command: (client: Redis) => Promise<T>): Promise<T> => {
    try {
      return await command(client)
    } catch (error) {
      throw unavailable(error)
    }
  }

  return {
    prefix: options.keyPrefix ?? '',
    client,
    run,
    script(name, lua) {
      if (defined.has(name)) throw new Error(`the Redis script ${name} is defined twice`)
      defined.add(name)
      client.defineCommand(name, { lua })
      const call = (client as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[name]!
      return (keys, args) => run((c) => call.call(c, keys.length, ...keys, ...args))
    },
    duplicate() {
      const copy = watch(new Redis(config.url, options), events)
      extra.add(copy)
      copy.once('end', () => extra.delete(copy))
      return copy
    },
    async close() {
      await Promise.all([client, ...extra].map(quit))
    },
  }
}

/**
 * Redis answering with an error about its script or a key's type is a bug here, not an outage:
 * it stays an error of its own (INTERNAL to the caller). Anything else means Redis is out of reach.
 */
function unavailable(error: unknown): Error {
  if (error instanceof RingKitError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof Error && error.name === 'ReplyError' && /^(ERR|WRONGTYPE)\b/.test(message)) return error
  return new RingKitError('CLUSTER_UNAVAILABLE', undefined, { cause: error })
}

/** Reports an outage once, not once per reconnect attempt, and keeps ioredis from logging on its own. */
function watch(client: Redis, events: RedisEvents): Redis {
  let down = false
  client.on('error', (error: Error) => {
    if (down) return
    down = true
    events.onDown?.(error)
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    events.onUp?.()
  })
  return client
}

async function quit(client: Redis): Promise<void> {
  if (client.status === 'end') return
  if (client.status !== 'ready') return client.disconnect()
  const timer = setTimeout(() => client.disconnect(), DEFAULT_REDIS_COMMAND_TIMEOUT_MS)
  try {
    await client.quit()
  } catch {
    client.disconnect()
  } finally {
    clearTimeout(timer)
  }
}
