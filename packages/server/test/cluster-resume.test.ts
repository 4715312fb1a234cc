import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { RECORD_STATUS } from '@ringkit/protocol'
import { skipUnless } from './postgres.ts'
import { redisScope, type RedisScope } from './redis.ts'
import { RawSocket, type Frame } from './raw-socket.ts'
import { signedHeaders, startTestServer, TestDevice, tokenFor, type TestServer } from './support.ts'
import { clusterSuite } from './cluster.ts'

const { redis, postgres, servers, scopes } = await clusterSuite()

const RESUME_GRACE_MS = 1000

/** Two nodes of one cluster: one PostgreSQL schema, one Redis prefix, so one default app. */
async function twoNodes(): Promise<{ a: TestServer; b: TestServer; scope: RedisScope }> {
  if ('skip' in postgres) throw new Error(postgres.skip)
  const scope = redisScope(redis.url)
  scopes.push(scope)
  const pg = { url: postgres.url, schema: postgres.schema() }
  const node = (nodeId: string) =>
    startTestServer({
      postgres: pg,
      redis: { url: redis.url, prefix: scope.prefix },
      nodeId,
      resumeGraceMs: RESUME_GRACE_MS,
    })
  // One after the other: the first makes the schema and the default app, the second finds them.
  const a = await node('node-a')
  const b = await node('node-b')
  servers.push(a, b)
  return { a, b, scope }
}

const skip = redis.skip ? { skip: redis.skip } : skipUnless(postgres)

/** A raw device's session, and the last seq it received: what its SDK would resume with. */
function resumeOf(socket: RawSocket, sessionId: string) {
  const lastSeq = Math.max(0, ...socket.frames.map((f) => Number((f as { seq?: number }).seq ?? 0)))
  return { sessionId, lastSeq }
}

/** Drops a raw device's socket as a network fault would, once its node has noticed. */
async function drop(socket: RawSocket): Promise<void> {
  socket.close()
  await socket.closed
  await sleep(100)
}

/** Logs `accid`'s device in again on `server`, resuming `resume`; resolves the socket and the login answer. */
async function resumeOn(server: TestServer, accid: string, deviceId: string, resume: object) {
  const socket = await RawSocket.open(server)
  const token = await tokenFor(server, accid)
  const answer = await socket.request('login', { appKey: server.app.appKey, accid, token, deviceId, resume })
  assert.equal(answer.type, 'reply', JSON.stringify(answer.error))
  return { socket, answer }
}

/** Logged-in devices a node holds now, as its /metrics says. */
async function sessionsOn(server: TestServer): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: signedHeaders(server.app) })
  return Number(/^ringkit_sessions (\d+)$/m.exec(await res.text())?.[1])
}

/** Carol's device logged in on `server` over a raw socket, with the login's answer. */
async function carolLoggedIn(server: TestServer) {
  const carolOnA = await RawSocket.open(server)
  const login = await carolOnA.request('login', {
    appKey: server.app.appKey,
    accid: 'carol',
    token: await tokenFor(server, 'carol'),
    deviceId: 'carol-1',
  })
  return { carolOnA, login }
}

const seqOf = (frame: Frame) => Number((frame as { seq?: number }).seq)

describe('a device resuming its session on another node', skip, () => {
  it('gets every event it missed exactly once and in order, from calls placed on either node, and its numbering goes on', async () => {
    const { a, b } = await twoNodes()
    const { carolOnA, login } = await carolLoggedIn(a)
    const sessionId = String(login.result?.sessionId)
    const alice = await TestDevice.online(a, 'alice')
    const bob = await TestDevice.online(b, 'bob')
    const resume = resumeOf(carolOnA, sessionId)
    await drop(carolOnA)

    // While carol is away: alice (on A) and bob (on B) each ring her and give up.
    for (const caller of [alice, bob]) {
      const call = await caller.kit.call({ to: 'carol', type: 'audio' })
      await call.hangup()
      assert.equal((await caller.next('record')).status, RECORD_STATUS.canceled)
    }
    await sleep(200)

    const { socket: carolOnB, answer } = await resumeOn(b, 'carol', 'carol-1', resume)
    assert.equal(answer.result?.resumed, true)
    assert.equal(answer.result?.sessionId, sessionId)
    const replayed = carolOnB.frames.slice(0, carolOnB.frames.indexOf(answer))
    assert.deepEqual(
      replayed.map((f) => f.name),
      ['invited', 'userCancel', 'callEnd', 'record', 'invited', 'userCancel', 'callEnd', 'record'],
      'both calls, in order, each event once',
    )
    assert.deepEqual(
      [...replayed, answer].map(seqOf),
      [...replayed, answer].map((_, i) => resume.lastSeq + 1 + i),
      'numbered on from the last frame the device had, without a gap',
    )
    const callers = replayed.filter((f) => f.name === 'invited').map((f) => f.data?.from)
    assert.deepEqual(callers, ['alice', 'bob'])

    // Events after the resume reach carol on B, numbered on; A's grace ends meanwhile and ends nothing.
    await sleep(RESUME_GRACE_MS + 500)
    const call = await alice.kit.call({ to: 'carol', type: 'audio' })
    const invited = await carolOnB.event('invited', (d) => d.callId === call.callId)
    assert.equal(seqOf(invited), seqOf(answer) + 1)
    assert.equal((await carolOnB.request('reject', { callId: call.callId })).type, 'reply')
    assert.equal((await alice.next('record')).status, RECORD_STATUS.rejected)
    await carolOnB.event('record', (d) => d.callId === call.callId)
    await sleep(300)
    const seqs = carolOnB.frames.map(seqOf).filter((seq) => seq > 0)
    assert.deepEqual(
      seqs,
      [...new Set(seqs)].sort((x, y) => x - y),
      'no frame twice, none out of order',
    )
    assert.equal(carolOnB.events.filter((n) => n === 'invited').length, 3)
    carolOnB.close()
  })

  it('a device in a call that drops on A and resumes on B keeps its call past A\u2019s grace, and it ends once', async () => {
    const { a, b } = await twoNodes()
    await tokenFor(a, 'alice')
    const alice = await TestDevice.online(a, 'alice', { servers: [a.url, b.url] })
    const bob = await TestDevice.online(b, 'bob')
    const call = await alice.kit.call({ to: 'bob', type: 'audio' })
    await (await bob.next('invited')).call.accept()
    await alice.next('userAccept')

    alice.kit.simulateNetworkDrop()
    // Bob mutes while alice is between the nodes: she hears it once, wherever it found her.
    const muted = bob.kit.calls[0]!.enableLocalAudio(false)
    assert.equal((await alice.next('reconnected')).resumed, true)
    await muted
    await alice.next('audioAvailable', (e) => e.accid === 'bob')
    await sleep(RESUME_GRACE_MS + 1000)
    assert.equal(call.status, 'connected')
    assert.equal(await a.store.getRecord(a.app.appKey, call.callId), undefined, 'A ended nothing at its grace')
    assert.ok(!bob.names().includes('callEnd'), bob.names().join())
    assert.deepEqual([await sessionsOn(a), await sessionsOn(b)], [0, 2], 'alice\u2019s session lives on B alone')

    await call.hangup()
    assert.equal((await bob.next('record')).status, RECORD_STATUS.completed)
    assert.equal((await alice.next('record')).status, RECORD_STATUS.completed)
    assert.ok(await alice.quiet('record'), 'alice got one record')
    assert.equal(alice.names().filter((n) => n === 'callEnd').length, 1)
    assert.equal(alice.names().filter((n) => n === 'audioAvailable').length, 1, alice.names().join())
  })

  it('a member of a group call resumes on the other node with the changes it missed, once each, and stays in the call', async () => {
    const { a, b } = await twoNodes()
    const { carolOnA, login } = await carolLoggedIn(a)
    const ann = await TestDevice.online(a, 'ann')
    const bob = await TestDevice.online(b, 'bob')
    const call = await ann.kit.groupCall({ to: ['bob', 'carol'], type: 'audio' })
    await carolOnA.event('invited', (d) => d.callId === call.callId)
    assert.equal((await carolOnA.request('accept', { callId: call.callId })).type, 'reply')
    const bobCall = (await bob.next('invited')).call
    await bobCall.accept()
    await ann.next('userAccept', (e) => e.accid === 'bob')
    await carolOnA.event('userAccept', (d) => d.accid === 'bob')
    const resume = resumeOf(carolOnA, String(login.result?.sessionId))
    await drop(carolOnA)

    // While carol is away: bob (on B) leaves, ann (on A) mutes.
    await bobCall.leave()
    await ann.next('userLeave', (e) => e.accid === 'bob')
    await call.enableLocalAudio(false)
    await sleep(200)

    const { socket: carolOnB, answer } = await resumeOn(b, 'carol', 'carol-1', resume)
    assert.equal(answer.result?.resumed, true)
    const replayed = carolOnB.frames.slice(0, carolOnB.frames.indexOf(answer))
    const names = replayed.map((f) => f.name)
    assert.equal(names.filter((n) => n === 'userLeave').length, 1, names.join())
    assert.equal(names.filter((n) => n === 'audioAvailable').length, 1, names.join())
    assert.ok(names.indexOf('userLeave') < names.indexOf('audioAvailable'), names.join())
    assert.deepEqual(
      replayed.map(seqOf),
      replayed.map((_, i) => resume.lastSeq + 1 + i),
    )

    // A's grace ends; the call goes on with carol in it, and ends once when she leaves ann alone.
    await sleep(RESUME_GRACE_MS + 500)
    assert.equal(call.status, 'connected')
    assert.equal(ann.names().filter((n) => n === 'userLeave').length, 1, 'only bob left')
    assert.equal((await carolOnB.request('hangup', { callId: call.callId })).type, 'reply')
    await ann.next('userLeave', (e) => e.accid === 'carol')
    await carolOnB.event('record', (d) => d.callId === call.callId)
    assert.equal((await ann.next('record')).callId, call.callId)
    carolOnB.close()
  })

  it('starts a new session when the log cannot prove continuity: trimmed past the ack, expired, or another device\u2019s', async () => {
    const { a, b, scope } = await twoNodes()
    const dave = await TestDevice.online(a, 'dave')

    // Trimmed: the device acknowledged frames, then resumes from before them.
    const erin = await RawSocket.login(a, 'erin', 'erin-1')
    const erinSession = String(erin.frames.find((f) => f.type === 'reply')?.result?.sessionId)
    await dave.kit.call({ to: 'erin', type: 'audio' }).then((c) => c.hangup())
    await erin.event('record')
    const acked = resumeOf(erin, erinSession)
    await erin.request('ping', { ack: acked.lastSeq })
    await drop(erin)
    const trimmed = await resumeOn(b, 'erin', 'erin-1', { sessionId: erinSession, lastSeq: 0 })
    assert.equal(trimmed.answer.result?.resumed, false)
    assert.notEqual(trimmed.answer.result?.sessionId, erinSession)
    trimmed.socket.close()

    // Another device's session is not this one's to take.
    const frank = await RawSocket.login(a, 'frank', 'frank-1')
    const frankSession = String(frank.frames.find((f) => f.type === 'reply')?.result?.sessionId)
    const stolen = resumeOf(frank, frankSession)
    await drop(frank)
    const other = await resumeOn(b, 'frank', 'frank-2', stolen)
    assert.equal(other.answer.result?.resumed, false)
    other.socket.close()

    // Expired: the log is gone from Redis (its lifetime passed); the device is told it starts anew.
    const link = scope.open()
    const logs = (await scope.keys()).filter((k) => k.includes(`:session:`) && k.includes(frankSession))
    assert.ok(logs.length > 0, 'the session is logged in Redis')
    await link.client.del(...logs.map((k) => k.slice(scope.prefix.length)))
    const expired = await resumeOn(b, 'frank', 'frank-1', stolen)
    assert.equal(expired.answer.result?.resumed, false)
    expired.socket.close()
  })
})
