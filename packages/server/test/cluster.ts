import { after, afterEach } from 'node:test'
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runCli, servingUrl, type CliRun } from './cli-process.ts'
import { findProgram } from './services.ts'
import { testPostgres, type TestPostgres } from './postgres.ts'
import { testRedis, type RedisScope } from './redis.ts'
import { testDataDir, TestDevice, type TestServer } from './support.ts'

/**
 * What a suite of several nodes needs: the test PostgreSQL and Redis (each a skip line where it
 * is missing), and lists of the servers and Redis prefixes it makes, closed and dropped with the
 * schemas handed out when the file ends.
 */
export async function clusterSuite() {
  const redis = await testRedis()
  const postgres = await testPostgres()
  const servers: TestServer[] = []
  const scopes: RedisScope[] = []
  afterEach(() => TestDevice.closeAll())
  after(async () => {
    await Promise.all(servers.map((s) => s.close()))
    await Promise.all(scopes.map((s) => s.drop()))
    if (!('skip' in postgres)) await postgres.dropSchemas()
  })
  return { redis, postgres, servers, scopes }
}

/**
 * `ringkit serve --postgres --redis` as a node of a fresh cluster (a schema of its own, the
 * scope's Redis prefix), once it prints its URL. `stop()` sends SIGTERM and waits for the exit.
 * `dataDir`: the node's data dir, to start it again on; the test removes it (by default the node
 * gets a fresh one, removed by `stop()`).
 */
export async function serveClusterNode(
  postgres: TestPostgres,
  redisUrl: string,
  scope: RedisScope,
  env: Record<string, string> = {},
  place: { dataDir?: string } = {},
): Promise<{ run: CliRun; url: string; stop: () => Promise<void> }> {
  const dataDir = place.dataDir ?? testDataDir()
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--no-demo']
  // The two URLs go together, as the contract has them.
  const cluster = ['--postgres', postgres.url, '--schema', postgres.schema(), '--redis', redisUrl]
  const run = runCli([...args, ...cluster, '--redis-prefix', scope.prefix], env, new Set<ChildProcess>())
  const stop = async () => {
    run.child.kill('SIGTERM')
    await run.exited
    if (!place.dataDir) rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    return { run, url: await servingUrl(run), stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** The HAProxy config the repository ships, started unchanged: the addresses come from the environment. */
export const SHIPPED_HAPROXY_CONFIG = fileURLToPath(new URL('../haproxy/haproxy.cfg', import.meta.url))

/**
 * What a suite of nodes behind HAProxy needs: the HAProxy binary, the test PostgreSQL and Redis,
 * the skip line naming the first one missing, and a set of child processes killed when the file exits.
 */
export async function haproxySuite() {
  const haproxy = findProgram('RINGKIT_HAPROXY', ['/usr/sbin/haproxy', '/usr/bin/haproxy'], 'apt-get install haproxy')
  const postgres = await testPostgres()
  const redis = await testRedis()
  const skip = typeof haproxy !== 'string' ? haproxy.skip : 'skip' in postgres ? postgres.skip : redis.skip || undefined
  const children = new Set<ChildProcess>()
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')))
  return { haproxy: haproxy as string, postgres, redis, skip, children }
}
