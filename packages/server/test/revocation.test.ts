import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ServerOptions } from '../src/index.ts'
import { redisPresence } from '../src/bus/redis-presence.ts'
import type { Presence } from '../src/signal/presence.ts'
import { signedHeaders, startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'
import { RawSocket } from './raw-socket.ts'
import { redisScope, testRedis, type RedisScope } from './redis.ts'

const redis = await testRedis()
let server: TestServer
const servers: TestServer[] = []
const scopes: RedisScope[] = []
const sockets: RawSocket[] = []

async function startRaceServer(options: Partial<ServerOptions> = {}): Promise<void> {
  // Every socket of the race places a call at the end: the account's invite budget must not be what refuses it.
  // Every racer connects from loopback as another device of one account: room for all of them.
  server = await startTestServer({
    limits: { invites: { perSecond: 1000, burst: 1000 }, connectionsPerIp: 1000, devicesPerAccount: 1000 },
    ...options,
  })
  servers.push(server)
}
after(async () => {
  for (const socket of sockets) socket.close()
  await TestDevice.closeAll()
  await Promise.all(servers.map((s) => s.close()))
  await Promise.all(scopes.map((s) => s.drop()))
})

/** Logged-in devices the server holds now, as its /metrics says. */
async function liveSessions(): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: signedHeaders(server.app) })
  const line = /^ringkit_sessions (\d+)$/m.exec(await res.text())
  assert.ok(line, 'the sessions gauge is exported')
  return Number(line[1])
}

const LOGINS = 120
/**
 * Logins kept back until the revoke has answered. How many others go out before it answers depends
 * on how fast the store and Redis serve it next to the logins (on PostgreSQL the revoke's write
 * queues behind their reads in the pool): these are sure to come after, however slow it is.
 */
const AFTER_REPLY = 20

describe('revocation', () => {
  it('after the revoke reply no device of the account is logged in, however many logins were in flight', async (t) => {
    await startRaceServer()
    await race(t)
  })
})

describe('revocation with the device cap counted in Redis', { skip: redis.skip }, () => {
  it('after the revoke reply no device of the account is logged in, and the slots of the logins it refused or kicked are freed', async (t) => {
    const scope = redisScope(redis.url)
    scopes.push(scope)
    await startRaceServer({ redis: { url: scope.url, prefix: scope.prefix } })
    await race(t)
    const presence: Presence = redisPresence(scope.open(), { lifetimeMs: 60_000 })
    // Slots are freed as sessions end, a moment after the kicks: give them a second.
    let held = await presence.devices(server.app.appKey, 'race-victim')
    for (let tries = 0; held.length > 1 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      held = await presence.devices(server.app.appKey, 'race-victim')
    }
    assert.equal(held.length, 1, `only the device logged in after the revoke holds a slot: ${held.length} do`)
  })
})

/** Logins of one account racing its revoke, over many sockets. */
async function race(t: { diagnostic(message: string): void }): Promise<void> {
  const callee = await TestDevice.online(server, 'race-callee')
  const accid = 'race-victim'
  const token = await tokenFor(server, accid)
  const racers = await Promise.all(Array.from({ length: LOGINS }, async () => RawSocket.open(server)))
  sockets.push(...racers)
  const login = (i: number) =>
    racers[i]!.send({ type: 'login', id: 'login', appKey: server.app.appKey, accid, token, deviceId: `racer-${i}` })
  // Logins keep coming, a few per turn of the event loop, until the revoke is answered: some are
  // answered before it, some are read and verified while it runs, and the last ones come after.
  let sent = 0
  let revoke: Promise<{ status: number }> | undefined
  let answered = false
  // The revoke goes once a login is answered, so that some got in before it.
  const revokeOnceOneIsAnswered = () => {
    if (revoke || !racers.some((socket) => socket.frames.some((f) => f.id === 'login'))) return
    revoke = server.rest('POST', `/v1/accounts/${accid}/revoke`)
    void revoke.then(() => (answered = true))
  }
  while (!answered && sent < LOGINS - AFTER_REPLY) {
    for (const end = Math.min(sent + 4, LOGINS - AFTER_REPLY); sent < end; sent++) login(sent)
    revokeOnceOneIsAnswered()
    await new Promise((r) => setTimeout(r, 1))
  }
  // On a loaded machine every login but those kept back may be out before the first is answered.
  while (!revoke) {
    revokeOnceOneIsAnswered()
    await new Promise((r) => setTimeout(r, 1))
  }
  const revoked = await revoke
  const sentBeforeReply = sent
  for (; sent < LOGINS; sent++) login(sent)
  assert.equal(revoked.status, 200)
  assert.equal(await liveSessions(), 1, 'only the callee is logged in')

  for (const socket of racers) {
    if (socket.open) socket.send({ type: 'call', id: 'call', to: [callee.accid], callType: 'audio' })
  }
  const logins = await Promise.all(racers.map(async (socket) => socket.answer('login')))
  const calls = await Promise.all(racers.map(async (socket) => socket.answer('call', 3000)))
  const outcomes = new Map<string, number>()
  for (const login of logins) {
    const outcome = login?.type === 'reply' ? 'logged in' : (login?.error?.code ?? 'no answer')
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
  }
  t.diagnostic(`logins sent before the revoke reply: ${sentBeforeReply}; outcomes: ${JSON.stringify([...outcomes])}`)
  // Both sides of the race happened: some logins went through before the revoke, some were refused by it.
  assert.ok((outcomes.get('logged in') ?? 0) > 0, JSON.stringify([...outcomes]))
  assert.ok((outcomes.get('TOKEN_REVOKED') ?? 0) > 0, JSON.stringify([...outcomes]))
  assert.deepEqual([...outcomes.keys()].sort(), ['TOKEN_REVOKED', 'logged in'])
  racers.forEach((socket, i) => {
    if (logins[i]?.type === 'reply') assert.deepEqual(socket.events, ['kickedOffline'], `racer-${i}`)
    assert.notEqual(calls[i]?.type, 'reply', `racer-${i} placed a call`)
  })
  assert.equal(await callee.quiet('invited'), true, 'nobody rang the callee')
  assert.equal(await liveSessions(), 1)
  // The callee's own session was untouched.
  assert.deepEqual((await callee.kit.getCallHistory()).records, [])
  // A fresh token logs in again.
  const again = await TestDevice.online(server, accid)
  assert.equal(again.kit.accid, accid)
}
