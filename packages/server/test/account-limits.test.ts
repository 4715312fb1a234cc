import { after, afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CallRecord } from '@ringkit/protocol'
import type { ServerOptions } from '../src/index.ts'
import { rest, startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'
import { RawSocket, UpgradeRefused } from './raw-socket.ts'

const servers: TestServer[] = []
const sockets: RawSocket[] = []
async function serverWith(options: Partial<ServerOptions>): Promise<TestServer> {
  const server = await startTestServer(options)
  servers.push(server)
  return server
}
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close()
  await TestDevice.closeAll()
})
after(async () => Promise.all(servers.map(async (s) => s.close())))

async function threeOnline(server: TestServer): Promise<[TestDevice, TestDevice, TestDevice]> {
  return Promise.all([
    TestDevice.online(server, 'alice'),
    TestDevice.online(server, 'bob'),
    TestDevice.online(server, 'carol'),
  ])
}

async function records(server: TestServer, accid: string): Promise<CallRecord[]> {
  const res = await server.rest('GET', `/v1/accounts/${accid}/calls`)
  assert.equal(res.status, 200)
  return res.body.records as CallRecord[]
}

async function open(server: TestServer, headers?: Record<string, string>): Promise<RawSocket> {
  const socket = await RawSocket.open(server, headers)
  sockets.push(socket)
  return socket
}

async function refusal(server: TestServer, headers?: Record<string, string>): Promise<UpgradeRefused> {
  const error: unknown = await open(server, headers).then(
    () => assert.fail('the upgrade went through'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof UpgradeRefused, String(error))
  return error
}

describe('limits count per account, not per socket', () => {
  it("calls from one account's three devices share one budget: the fourth is RATE_LIMITED, others still call", async () => {
    const server = await serverWith({ limits: { invites: { perSecond: 0.01, burst: 3 } } })
    const bob = await TestDevice.online(server, 'bob')
    const devices = await Promise.all(
      ['a1', 'a2', 'a3'].map((id) => TestDevice.online(server, 'alice', { deviceId: id })),
    )
    for (const device of devices) {
      const call = await device.kit.call({ to: 'bob', type: 'audio' })
      await bob.next('invited', (e) => e.call.callId === call.callId)
      await call.cancel()
      await device.next('record', (r) => r.callId === call.callId)
    }
    await assert.rejects(devices[0]!.kit.call({ to: 'bob', type: 'audio' }), { code: 'RATE_LIMITED' })

    const carol = await TestDevice.online(server, 'carol')
    const other = await carol.kit.call({ to: 'bob', type: 'audio' })
    await bob.next('invited', (e) => e.call.callId === other.callId)
    assert.equal(bob.seen.filter((s) => s.name === 'invited').length, 4, 'the refused call rang nobody')
    await other.cancel()
    await carol.next('record')
    assert.deepEqual(
      (await records(server, 'alice')).map((r) => r.status),
      [2, 2, 2],
    )
  })

  it('REST requests count per app once their CheckSum passed: the app over its budget gets 429 RATE_LIMITED, another app does not', async () => {
    const server = await serverWith({ limits: { rest: { perSecond: 0.01, burst: 3 } } })
    // Anyone can send the AppKey; only signed requests spend the app's budget.
    for (let i = 0; i < 5; i++) {
      const forged = await server.rest('GET', '/v1/accounts/alice', undefined, { CheckSum: '0'.repeat(40) })
      assert.equal(forged.body.error.code, 'CHECKSUM_INVALID')
    }
    assert.equal((await server.rest('POST', '/v1/accounts', { accid: 'alice' })).status, 201)
    assert.equal((await server.rest('GET', '/v1/accounts/alice')).status, 200)
    assert.equal((await server.rest('GET', '/v1/accounts/alice')).status, 200)
    const limited = await server.rest('GET', '/v1/accounts/alice')
    assert.equal(limited.status, 429)
    assert.equal(limited.body.error.code, 'RATE_LIMITED')

    const other = await server.createApp({ name: 'other' })
    const otherRest = rest(server.url, other)
    assert.equal((await otherRest('POST', '/v1/accounts', { accid: 'alice' })).status, 201)
    assert.equal((await otherRest('GET', '/v1/accounts/alice')).body.accid, 'alice')
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
    // The refused request changed nothing: the account is still there, as the store holds it.
    assert.equal((await server.store.getAccount(server.app.appKey, 'alice'))?.accid, 'alice')
  })

  it('a login past the device cap is refused with TOO_MANY_DEVICES; the devices in keep ringing, and a device logging in again or resuming is not counted twice', async () => {
    const server = await serverWith({ limits: { devicesPerAccount: 2 } })
    const a1 = await TestDevice.online(server, 'alice', { deviceId: 'a1' })
    const a2 = await TestDevice.online(server, 'alice', { deviceId: 'a2' })
    const a3 = new TestDevice(server, 'alice', { deviceId: 'a3' })
    await assert.rejects(a3.kit.login({ accid: 'alice', token: await tokenFor(server, 'alice') }), {
      code: 'TOO_MANY_DEVICES',
    })
    // At the cap, a1 logging in again (a new page, say) replaces itself.
    const again = await TestDevice.online(server, 'alice', { deviceId: 'a1' })
    a2.kit.simulateNetworkDrop()
    await a2.next('reconnected')

    const bob = await TestDevice.online(server, 'bob')
    const call = await bob.kit.call({ to: 'alice', type: 'audio' })
    await Promise.all([again.next('invited'), a2.next('invited')])
    assert.equal(a3.seen.filter((s) => s.name === 'invited').length, 0)
    assert.equal(a1.seen.filter((s) => s.name === 'invited').length, 0, 'the replaced client is out')
    await call.cancel()
    await bob.next('record')

    await a2.close()
    await a3.kit.login({ accid: 'alice', token: await tokenFor(server, 'alice') })
    assert.deepEqual(
      (await records(server, 'alice')).map((r) => r.status),
      [2],
    )
  })

  it('a socket that does not log in within the deadline is closed with 4004; one that logged in stays', async () => {
    const server = await serverWith({ limits: { loginDeadlineMs: 300 } })
    const idle = await open(server)
    const loggedIn = await RawSocket.login(server, 'alice')
    sockets.push(loggedIn)
    assert.equal(await idle.closed, 4004)
    const pong = await loggedIn.request('ping')
    assert.equal(pong.type, 'reply')
    assert.equal(loggedIn.ws.readyState, loggedIn.ws.OPEN)
  })

  it('connections past the per-IP cap are refused with 429 TOO_MANY_CONNECTIONS; those open keep working', async () => {
    const server = await serverWith({ limits: { connectionsPerIp: 3 } })
    const first = await open(server)
    await open(server)
    await open(server)
    const refused = await refusal(server)
    assert.equal(refused.status, 429)
    assert.equal(JSON.parse(refused.body).error.code, 'TOO_MANY_CONNECTIONS')
    // Without a trusted proxy, X-Forwarded-For is the client's to write and changes nothing.
    assert.equal((await refusal(server, { 'X-Forwarded-For': '198.51.100.7' })).status, 429)
    assert.equal((await first.request('ping')).type, 'reply')

    first.close()
    await first.closed
    const deadline = Date.now() + 2000
    let reopened: RawSocket | undefined
    while (!reopened) {
      reopened = await open(server).catch((error: unknown) => {
        if (!(error instanceof UpgradeRefused) || Date.now() > deadline) throw error
        return undefined
      })
    }
    assert.equal((await reopened.request('ping')).type, 'reply')
  })

  it('behind a trusted proxy, connections count per forwarded client, by the address the proxy added', async () => {
    const server = await serverWith({ limits: { connectionsPerIp: 2 }, trustedProxies: ['127.0.0.1'] })
    const client = { 'X-Forwarded-For': '203.0.113.5' }
    await open(server, client)
    await open(server, client)
    assert.equal((await refusal(server, client)).status, 429)
    // A client cannot escape its count by writing an address in front of the one the proxy adds.
    assert.equal((await refusal(server, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.5' })).status, 429)
    const neighbour = await open(server, { 'X-Forwarded-For': '203.0.113.6' })
    assert.equal((await neighbour.request('ping')).type, 'reply')
  })
})

describe('a callee who declined', () => {
  it('cannot be rung again by the same caller for the cooldown: DECLINED_RECENTLY before anyone rings', async () => {
    const server = await serverWith({ limits: { declineCooldownMs: 60_000 } })
    const [alice, bob, carol] = await threeOnline(server)
    const first = await alice.kit.call({ to: 'bob', type: 'audio' })
    const { call: ringing } = await bob.next('invited')
    await ringing.reject()
    assert.equal((await alice.next('record', (r) => r.callId === first.callId)).status, 3)

    await assert.rejects(alice.kit.call({ to: 'bob', type: 'audio' }), { code: 'DECLINED_RECENTLY' })
    // Others still ring bob, and bob's next invitation is theirs: the refused call rang nobody.
    const fromCarol = await carol.kit.call({ to: 'bob', type: 'audio' })
    assert.equal((await bob.next('invited')).from, 'carol')
    await fromCarol.cancel()
    await carol.next('record')
    const toCarol = await alice.kit.call({ to: 'carol', type: 'audio' })
    await carol.next('invited', (e) => e.call.callId === toCarol.callId)
    await toCarol.cancel()
    await alice.next('record', (r) => r.callId === toCarol.callId)

    // Bob calling back lifts it: alice may ring bob again.
    const back = await bob.kit.call({ to: 'alice', type: 'audio' })
    await alice.next('invited', (e) => e.call.callId === back.callId)
    await back.cancel()
    await alice.next('record', (r) => r.callId === back.callId)
    const again = await alice.kit.call({ to: 'bob', type: 'audio' })
    await bob.next('invited', (e) => e.call.callId === again.callId)
    await again.cancel()
    await alice.next('record', (r) => r.callId === again.callId)
    assert.deepEqual(
      (await records(server, 'alice')).map((r) => r.status),
      [2, 2, 2, 3],
    )
  })

  it("a group call's decliner cannot be re-invited by its caller, and the call goes on for the others", async () => {
    const server = await serverWith({ limits: { declineCooldownMs: 60_000 } })
    const [alice, bob, carol] = await threeOnline(server)
    const group = await alice.kit.groupCall({ to: ['bob', 'carol'], type: 'audio' })
    const [{ call: atBob }, { call: atCarol }] = await Promise.all([bob.next('invited'), carol.next('invited')])
    await atBob.reject()
    await atCarol.accept()
    await alice.next('userAccept')

    await assert.rejects(group.invite(['bob']), { code: 'DECLINED_RECENTLY' })
    assert.equal(bob.seen.filter((s) => s.name === 'invited').length, 1)
    assert.deepEqual(
      group.members.map((m) => [m.accid, m.status]),
      [
        ['alice', 'joined'],
        ['bob', 'rejected'],
        ['carol', 'joined'],
      ],
    )
    await group.hangup()
    const record = await carol.next('record')
    assert.equal(record.status, 1)
    const status = (accid: string) => record.members.find((m) => m.accid === accid)?.status
    assert.equal(status('bob'), 'rejected')
    assert.ok(record.members.find((m) => m.accid === 'carol')?.joinedAt, 'carol was in the call')
    assert.equal((await records(server, 'alice')).length, 1)
  })
})
