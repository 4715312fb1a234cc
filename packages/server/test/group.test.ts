import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RECORD_STATUS, RingKitError, type CallRecord, type GroupMember } from '@ringkit/protocol'
import type { Call } from '@ringkit/client'
import { findProgram, startJanus, type Janus } from './services.ts'
import { startTestServer, TestDevice, type TestServer } from './support.ts'

let server: TestServer
let n = 0
/** Fresh accounts per test, named after their role, so tests never share a busy account. */
async function people<const N extends string>(...names: N[]): Promise<Record<N, TestDevice>> {
  n++
  const devices = await Promise.all(names.map(async (name) => TestDevice.online(server, `${name}${n}`)))
  return Object.fromEntries(names.map((name, i) => [name, devices[i]])) as Record<N, TestDevice>
}

before(async () => {
  server = await startTestServer()
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

/** The call as `device` got it rung, answered. */
async function answer(device: TestDevice): Promise<Call> {
  const { call } = await device.next('invited')
  await call.accept()
  return call
}

/** Everyone's one record of the call, checked to be the same, then returned. */
async function recordOfAll(devices: TestDevice[]): Promise<CallRecord> {
  const records = await Promise.all(devices.map(async (d) => d.next('record')))
  for (const r of records) assert.deepEqual(r, records[0])
  for (const d of devices) assert.ok(await d.quiet('record'), `${d.accid} got a second record`)
  return records[0]!
}

const statuses = (r: CallRecord) => Object.fromEntries(r.members.map((m) => [m.accid, m.status]))

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof RingKitError && e.code === code)
}

describe('group calls (mesh, no media server)', () => {
  it('rings everyone; answers, a decline and the caller hanging up end it for all with one record', async () => {
    const { ann, bob, cat, dan } = await people('ann', 'bob', 'cat', 'dan')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid, dan.accid], type: 'audio' })
    assert.equal(call.isGroup, true)
    const invited = await bob.next('invited')
    assert.equal(invited.isGroup, true)
    assert.deepEqual(invited.members, [ann.accid, bob.accid, cat.accid, dan.accid])
    await invited.call.accept()
    await ann.next('userAccept', (e) => e.accid === bob.accid)
    const catCall = await answer(cat)
    await bob.next('userAccept', (e) => e.accid === cat.accid)
    await (await dan.next('invited')).call.reject()
    await ann.next('userReject', (e) => e.accid === dan.accid)
    await cat.next('userReject', (e) => e.accid === dan.accid)
    assert.equal((await dan.next('callEnd')).reason, 'rejected')
    const members = await ann.next('membersChange', (e) => e.members.some((m) => m.status === 'rejected'))
    assert.deepEqual(
      members.members.map((m) => [m.accid, m.status]),
      [
        [ann.accid, 'joined'],
        [bob.accid, 'joined'],
        [cat.accid, 'joined'],
        [dan.accid, 'rejected'],
      ],
    )
    // Cat hears the members' change after dan's reject, and in a cluster maybe a moment after ann.
    await cat.next('membersChange', (e) => e.members.some((m) => m.status === 'rejected'))
    assert.deepEqual(catCall.members, members.members)
    await call.hangup()
    for (const d of [bob, cat]) assert.equal((await d.next('callEnd')).by, ann.accid)
    const record = await recordOfAll([ann, bob, cat, dan])
    assert.equal(record.isGroup, true)
    assert.equal(record.status, RECORD_STATUS.completed)
    assert.deepEqual(record.callees, [bob.accid, cat.accid, dan.accid])
    assert.deepEqual(statuses(record), {
      [ann.accid]: 'joined',
      [bob.accid]: 'joined',
      [cat.accid]: 'joined',
      [dan.accid]: 'rejected',
    })
  })

  it('a member who leaves goes alone; the call ends when one is left with nobody ringing', async () => {
    const { ann, bob, cat } = await people('ann', 'bob', 'cat')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'video' })
    const bobCall = await answer(bob)
    await answer(cat)
    await ann.next('userAccept', (e) => e.accid === cat.accid)
    await bobCall.leave()
    assert.equal((await bob.next('callEnd')).reason, 'hangup')
    await ann.next('userLeave', (e) => e.accid === bob.accid)
    await cat.next('userLeave', (e) => e.accid === bob.accid)
    assert.equal(call.status, 'connected')
    // Bob is free again: another call reaches him while the group call goes on.
    const { zed } = await people('zed')
    const other = await zed.kit.call({ to: bob.accid, type: 'audio' })
    await bob.next('invited', (e) => e.call.callId === other.callId)
    await other.cancel()
    await bob.next('record', (r) => r.callId === other.callId)
    // The caller leaves too: Cat is alone with nobody ringing, so the call ends.
    await call.leave()
    assert.equal((await cat.next('callEnd')).reason, 'hangup')
    const record = await recordOfAll([ann, bob, cat])
    assert.equal(record.status, RECORD_STATUS.completed)
    const byAccid = new Map(record.members.map((m) => [m.accid, m]))
    assert.ok(byAccid.get(bob.accid)!.leftAt! <= byAccid.get(ann.accid)!.leftAt!)
    assert.ok(byAccid.get(ann.accid)!.leftAt! <= record.endedAt)
  })

  it('each member rings on its own clock; a missed one does not end the call, and can join later', async () => {
    const { ann, bob, cat } = await people('ann', 'bob', 'cat')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'audio', timeoutMs: 1500 })
    await answer(bob)
    await cat.next('invited')
    const timeout = await ann.next('callingTimeout', (e) => e.accid === cat.accid, 4000)
    assert.equal(timeout.call, call)
    await cat.next('callingTimeout')
    assert.equal((await cat.next('callEnd')).reason, 'timeout')
    await bob.next('callingTimeout', (e) => e.accid === cat.accid)
    // Cat calls back into the call while it lives.
    const catCall = await cat.kit.join(call.callId)
    assert.equal(catCall.isGroup, true)
    assert.equal(catCall.caller, ann.accid)
    await ann.next('userAccept', (e) => e.accid === cat.accid)
    await call.hangup()
    const record = await recordOfAll([ann, bob, cat])
    assert.equal(statuses(record)[cat.accid], 'joined')
  })

  it('invites mid-call: the new member rings and joins; one in another call is busy', async () => {
    const { ann, bob, cat, dan, eve } = await people('ann', 'bob', 'cat', 'dan', 'eve')
    const call = await ann.kit.groupCall({ to: [bob.accid], type: 'video' })
    const bobCall = await answer(bob)
    // Dan is busy with Eve.
    await dan.kit.call({ to: eve.accid, type: 'audio' })
    await eve.next('invited')
    await bobCall.invite([cat.accid, dan.accid])
    const invited = await cat.next('invited')
    assert.equal(invited.from, ann.accid)
    await invited.call.accept()
    await ann.next('userAccept', (e) => e.accid === cat.accid)
    await bob.next('userAccept', (e) => e.accid === cat.accid)
    await ann.next('userBusy', (e) => e.accid === dan.accid)
    await call.hangup()
    const record = await recordOfAll([ann, bob, cat])
    assert.deepEqual(record.callees, [bob.accid, cat.accid, dan.accid])
    assert.deepEqual(statuses(record), {
      [ann.accid]: 'joined',
      [bob.accid]: 'joined',
      [cat.accid]: 'joined',
      [dan.accid]: 'busy',
    })
  })

  it('caller cancels before anyone answers: status 2 for all; all decline: status 3; all busy: status 5', async () => {
    const { ann, bob, cat } = await people('ann', 'bob', 'cat')
    const canceled = await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'audio' })
    await Promise.all([bob.next('invited'), cat.next('invited')])
    await canceled.cancel()
    await Promise.all([bob.next('userCancel'), cat.next('userCancel')])
    assert.equal((await recordOfAll([ann, bob, cat])).status, RECORD_STATUS.canceled)
    assert.equal((await ann.next('callEnd')).reason, 'canceled')

    await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'audio' })
    for (const d of [bob, cat]) await (await d.next('invited')).call.reject()
    const rejected = await recordOfAll([ann, bob, cat])
    assert.equal(rejected.status, RECORD_STATUS.rejected)
    assert.equal((await ann.next('callEnd')).reason, 'rejected')

    const { x, y } = await people('x', 'y')
    await x.kit.groupCall({ to: [y.accid], type: 'audio', timeoutMs: 5000 })
    await y.next('invited')
    await ann.kit.groupCall({ to: [x.accid, y.accid], type: 'audio' })
    await ann.next('userBusy', (e) => e.accid === x.accid)
    await ann.next('userBusy', (e) => e.accid === y.accid)
    assert.equal((await ann.next('record')).status, RECORD_STATUS.busy)
  })

  it('more than 4 people without a media server is refused with SFU_REQUIRED, at the start and on invite', async () => {
    const { ann, bob, cat, dan, eve } = await people('ann', 'bob', 'cat', 'dan', 'eve')
    await rejects(
      ann.kit.groupCall({ to: [bob.accid, cat.accid, dan.accid, eve.accid], type: 'video' }),
      'SFU_REQUIRED',
    )
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid, dan.accid], type: 'video' })
    await answer(bob)
    await rejects(call.invite([eve.accid]), 'SFU_REQUIRED')
    // 26 people are too many whatever carries the media.
    const many = Array.from({ length: 25 }, (_, i) => `nobody${n}x${i}`)
    await rejects(ann.kit.groupCall({ to: many, type: 'audio' }), 'GROUP_TOO_LARGE')
    await call.hangup()
    await ann.next('record')
  })

  it('the mesh limit counts those in the call or ringing: one who declined and one who missed leave room', async () => {
    const { ann, bob, cat, dan, eve, fay, gus } = await people('ann', 'bob', 'cat', 'dan', 'eve', 'fay', 'gus')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid, dan.accid], type: 'audio', timeoutMs: 2000 })
    await answer(bob)
    await (await cat.next('invited')).call.reject()
    await dan.next('invited')
    await ann.next('callingTimeout', (e) => e.accid === dan.accid)
    // Ann and Bob are in the call: two more may ring, not three.
    await call.invite([eve.accid, fay.accid])
    const eveRings = await eve.next('invited')
    const fayRings = await fay.next('invited')
    await rejects(call.invite([gus.accid]), 'SFU_REQUIRED')
    await rejects(cat.kit.join(call.callId), 'SFU_REQUIRED')
    // The refusals left the call as it was: Eve's ringing goes on and she comes in.
    await eveRings.call.accept()
    await bob.next('userAccept', (e) => e.accid === eve.accid)
    await fayRings.call.reject()
    await cat.kit.join(call.callId)
    await ann.next('userAccept', (e) => e.accid === cat.accid)
    assert.equal(call.status, 'connected')
    await call.hangup()
    const record = await recordOfAll([ann, bob, cat, dan, eve, fay])
    assert.deepEqual(record.callees, [bob.accid, cat.accid, dan.accid, eve.accid, fay.accid])
    assert.deepEqual(statuses(record), {
      [ann.accid]: 'joined',
      [bob.accid]: 'joined',
      [cat.accid]: 'joined',
      [dan.accid]: 'missed',
      [eve.accid]: 'joined',
      [fay.accid]: 'rejected',
    })
    assert.ok(
      gus.seen.every((e) => e.name !== 'invited'),
      'the refused invitation rang nobody',
    )
  })

  it('a call rings at most Limits.groupCallees people in all; ringing one of them again is not one more', async (t) => {
    // Those who decline are rung again at once: no cooldown between.
    const small = await startTestServer({ limits: { groupCallees: { perCall: 3 }, declineCooldownMs: 0 } })
    t.after(async () => small.close())
    n++
    const [ann, bob, cat, dan, eve] = await Promise.all(
      ['ann', 'bob', 'cat', 'dan', 'eve'].map(async (name) => TestDevice.online(small, `${name}${n}`)),
    )
    if (!ann || !bob || !cat || !dan || !eve) return assert.fail('devices')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'audio' })
    await answer(bob)
    await (await cat.next('invited')).call.reject()
    await call.invite([dan.accid])
    await (await dan.next('invited')).call.reject()
    // Two in the call, three rung in all: Eve would be a fourth.
    await rejects(call.invite([eve.accid]), 'GROUP_TOO_LARGE')
    await call.invite([cat.accid])
    await answer(cat)
    await bob.next('userAccept', (e) => e.accid === cat.accid)
    await call.hangup()
    const record = await recordOfAll([ann, bob, cat, dan])
    assert.deepEqual(record.callees, [bob.accid, cat.accid, dan.accid])
    await eve.kit.getCallHistory({ limit: 1 })
    assert.ok(
      eve.seen.every((e) => e.name !== 'invited'),
      'the refused invitation rang nobody',
    )
    await Promise.all([ann, bob, cat, dan, eve].map(async (d) => d.close()))
  })

  it('refuses what a device may not do: a 1:1 join, media to nobody, invites from outside', async () => {
    const { ann, bob, cat } = await people('ann', 'bob', 'cat')
    const single = await ann.kit.call({ to: bob.accid, type: 'audio' })
    await bob.next('invited')
    // A party learns the call is not a group call; an outsider learns nothing of it.
    await rejects(bob.kit.join(single.callId), 'NOT_GROUP_CALL')
    await rejects(cat.kit.join(single.callId), 'NOT_IN_CALL')
    await single.cancel()
    const call = await ann.kit.groupCall({ to: [bob.accid], type: 'audio' })
    await bob.next('invited')
    await rejects(cat.kit.join(call.callId), 'NOT_IN_CALL')
    await rejects(single.invite([cat.accid]), 'CALL_NOT_FOUND')
    await call.cancel()
    await bob.next('userCancel')
  })

  it('who has the microphone or camera off is in the members list, for those who come in later', async () => {
    const { ann, bob, cat } = await people('ann', 'bob', 'cat')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'video' })
    await answer(bob)
    await (await cat.next('invited')).call.reject()
    await call.enableLocalAudio(false)
    await bob.next('audioAvailable', (e) => e.accid === ann.accid && !e.available)
    // Cat missed the mute while out of the call; joining, she learns it.
    const catCall = await cat.kit.join(call.callId)
    const annOf = (members: GroupMember[]) => members.find((m) => m.accid === ann.accid)
    assert.deepEqual(annOf(catCall.members), { accid: ann.accid, status: 'joined', micOff: true })
    await call.enableLocalAudio(true)
    await cat.next('membersChange', (e) => e.call === catCall && annOf(e.members)?.micOff === undefined)
    assert.deepEqual(annOf(catCall.members), { accid: ann.accid, status: 'joined' })
    await call.hangup()
    await recordOfAll([ann, bob, cat])
  })

  it('a member whose device drops for good leaves the call; the others go on', async () => {
    const { ann, bob, cat } = await people('ann', 'bob', 'cat')
    const call = await ann.kit.groupCall({ to: [bob.accid, cat.accid], type: 'audio' })
    await answer(bob)
    await answer(cat)
    await ann.next('userAccept', (e) => e.accid === cat.accid)
    // Logging out is the device going for good, as a grace period running out would be.
    await cat.close()
    await ann.next('userLeave', (e) => e.accid === cat.accid)
    assert.equal(call.status, 'connected')
    await call.hangup()
    const record = await recordOfAll([ann, bob])
    assert.equal(record.endReason, 'hangup')
    assert.ok(record.members.find((m) => m.accid === cat.accid)?.leftAt)
  })
})

const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')

describe('group calls through Janus', { skip: typeof janusBinary === 'string' ? false : janusBinary.skip }, () => {
  let janus: Janus | undefined
  let sfuServer: TestServer | undefined
  after(async () => {
    await sfuServer?.close()
    await janus?.stop()
  })

  it('the 25-person limit counts those in the call or ringing, not everyone ever invited', async () => {
    if (typeof janusBinary !== 'string') return assert.fail(janusBinary.skip)
    janus = await startJanus(janusBinary)
    sfuServer = await startTestServer({ janus: { urls: [janus.url], apiSecret: janus.apiSecret } })
    const target = sfuServer
    n++
    const ann = await TestDevice.online(target, `sfu-ann${n}`)
    const bob = await TestDevice.online(target, `sfu-bob${n}`)
    // Rung but offline: an account with no device rings until its timeout all the same.
    const others = Array.from({ length: 25 }, (_, i) => `sfu-p${i}x${n}`)
    for (const accid of others) assert.equal((await target.rest('POST', '/v1/accounts', { accid })).status, 201)
    const call = await ann.kit.groupCall({ to: [bob.accid, ...others.slice(0, 23)], type: 'audio' })
    assert.equal(call.isGroup, true)
    await rejects(call.invite([others[23]!]), 'GROUP_TOO_LARGE')
    await (await bob.next('invited')).call.reject()
    await ann.next('userReject', (e) => e.accid === bob.accid)
    // Bob declined: one more may ring, and then the call is full again.
    await call.invite([others[23]!])
    await rejects(call.invite([others[24]!]), 'GROUP_TOO_LARGE')
    await rejects(bob.kit.join(call.callId), 'GROUP_TOO_LARGE')
    await call.cancel()
    const record = await ann.next('record')
    assert.deepEqual(record.callees, [bob.accid, ...others.slice(0, 24)])
    assert.equal(record.status, RECORD_STATUS.canceled)
  })
})
