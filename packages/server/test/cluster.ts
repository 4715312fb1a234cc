import { after, afterEach } from 'node:test'
import { testPostgres } from './postgres.ts'
import { testRedis, type RedisScope } from './redis.ts'
import { TestDevice, type TestServer } from './support.ts'

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
