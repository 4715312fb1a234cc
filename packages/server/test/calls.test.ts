import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import { startTestServer, TestDevice, type TestServer } from './support.ts'

let server: TestServer
let n = 0
/** Fresh account names per test, so tests never share a busy account. */
const pair = async () => {
  n++
  const alice = await TestDevice.online(server, `alice${n}`)
  const bob = await TestDevice.online(server, `bob${n}`)
  return { alice, bob }
}

/** How far the call engine's clock runs ahead of the real one: tests move it on rather than wait. */
let skewMs = 0
before(async () => {
  server = await startTestServer({ now: () => Date.now() + skewMs })
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

function assertRecord(record: CallRecord, status: number, caller: string, callee: string) {
  assert.equal(record.status, status)
  assert.equal(record.caller, caller)
  assert.deepEqual(record.callees, [callee])
  assert.equal(record.isGroup, false)
  assert.ok(record.endedAt >= record.startedAt)
}

describe('1:1 call outcomes', () => {
  it('accept then hangup gives both sides one record with status 1 and a duration', async () => {
    const { alice, bob } = await pair()
    const call = await alice.kit.call({ to: bob.accid, type: 'video', attachment: { topic: 'standup' } })
    const invited = await bob.next('invited')
    assert.equal(invited.from, alice.accid)
    assert.equal(invited.type, 'video')
    assert.deepEqual(invited.attachment, { topic: 'standup' })
    assert.equal(invited.call.callId, call.callId)
    await invited.call.accept()
    await alice.next('userAccept', (e) => e.accid === bob.accid)
    assert.equal(call.status, 'connected')
    skewMs += 61_000
    await call.hangup()
    const [endA, endB] = await Promise.all([alice.next('callEnd'), bob.next('callEnd')])
    assert.equal(endA.reason, 'hangup')
    assert.equal(endB.by, alice.accid)
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assertRecord(ra, RECORD_STATUS.completed, alice.accid, bob.accid)
    assert.deepEqual(rb, ra)
    assert.ok(ra.connectedAt !== undefined)
    assert.ok(ra.durationSeconds >= 61 && ra.durationSeconds <= 62, `duration ${ra.durationSeconds}`)
    assert.deepEqual(ra.attachment, { topic: 'standup' })
    assert.deepEqual(
      ra.members.map((m) => [m.accid, m.status]),
      [
        [alice.accid, 'joined'],
        [bob.accid, 'joined'],
      ],
    )
    assert.ok(await alice.quiet('record'), 'exactly one record')
    const stored = await server.rest('GET', `/v1/calls/${call.callId}`)
    assert.deepEqual(stored.body, ra)
  })

  it('cancel by the caller gives both sides a record with status 2', async () => {
    const { alice, bob } = await pair()
    const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
    await bob.next('invited')
    await call.cancel()
    await bob.next('userCancel', (e) => e.accid === alice.accid)
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assertRecord(ra, RECORD_STATUS.canceled, alice.accid, bob.accid)
    assert.deepEqual(rb, ra)
    assert.equal(ra.members[1]?.status, 'canceled')
    assert.equal(ra.durationSeconds, 0)
  })

  it('reject() by the callee gives both sides a record with status 3', async () => {
    const { alice, bob } = await pair()
    await alice.kit.call({ to: bob.accid, type: 'video' })
    const { call } = await bob.next('invited')
    await call.reject()
    await alice.next('userReject', (e) => e.accid === bob.accid)
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assertRecord(ra, RECORD_STATUS.rejected, alice.accid, bob.accid)
    assert.deepEqual(rb, ra)
    assert.equal(ra.members[1]?.status, 'rejected')
  })

  it('no answer within the timeout tells both sides and records status 4', async () => {
    const { alice, bob } = await pair()
    const started = Date.now()
    await alice.kit.call({ to: bob.accid, type: 'audio', timeoutMs: 1000 })
    await bob.next('invited')
    await Promise.all([alice.next('callingTimeout'), bob.next('callingTimeout')])
    assert.ok(Date.now() - started >= 950)
    const [ra, rb] = await Promise.all([alice.next('record'), bob.next('record')])
    assertRecord(ra, RECORD_STATUS.timeout, alice.accid, bob.accid)
    assert.deepEqual(rb, ra)
    assert.equal(ra.members[1]?.status, 'missed')
  })

  it('a callee already in a call is auto-rejected as busy with status 5', async () => {
    const { alice, bob } = await pair()
    const carol = await TestDevice.online(server, `carol${n}`)
    await alice.kit.call({ to: bob.accid, type: 'audio' })
    await bob.next('invited')
    const second = await carol.kit.call({ to: bob.accid, type: 'video' })
    await carol.next('userBusy', (e) => e.accid === bob.accid && e.call === second)
    const rc = await carol.next('record')
    assertRecord(rc, RECORD_STATUS.busy, carol.accid, bob.accid)
    const rb = await bob.next('record', (r) => r.callId === second.callId)
    assert.deepEqual(rb, rc)
    assert.equal(bob.seen.filter((s) => s.name === 'invited').length, 1, 'the busy callee never rang twice')
  })

  it('setCallTimeout above 120 s is an error, and so is a call to oneself or an unknown account', async () => {
    const { alice } = await pair()
    assert.throws(() => alice.kit.setCallTimeout(121_000), { code: 'CALL_TIMEOUT_INVALID' })
    await assert.rejects(alice.kit.call({ to: alice.accid, type: 'audio' }), { code: 'CALL_SELF' })
    await assert.rejects(alice.kit.call({ to: 'nobody-here', type: 'audio' }), { code: 'ACCOUNT_NOT_FOUND' })
  })

  it('calling an account with no device online fails with CALLEE_OFFLINE', async () => {
    const { alice } = await pair()
    await server.rest('POST', '/v1/accounts', { accid: `offline${n}` })
    await assert.rejects(alice.kit.call({ to: `offline${n}`, type: 'audio' }), { code: 'CALLEE_OFFLINE' })
  })
})
