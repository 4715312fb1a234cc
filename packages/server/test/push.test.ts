import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RECORD_STATUS } from '@ringkit/protocol'
import { startTestServer, TestDevice, type TestServer } from './support.ts'
import { pushService, pushRegistration, pushRegistration as registration, type PushService } from './push-service.ts'

let server: TestServer
let push: PushService
let n = 0
const fresh = (name: string) => `${name}${++n}`

before(async () => {
  push = await pushService()
  // The test's push service is on loopback; by default only the browsers' push services are.
  server = await startTestServer({ push: { endpointAllowed: (url) => url.origin === push.base } })
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
  await push.close()
})

/** An account whose one device subscribed to push, then closed its page (without logging out). */
async function subscribedAndGone(lang = 'en') {
  const accid = fresh('bob')
  const device = await TestDevice.online(server, accid)
  const subscription = push.subscription()
  const { reg, key } = registration(subscription)
  await device.kit.enablePush({ serviceWorker: reg, lang })
  // The page closes: no logout, so the subscription stays.
  device.kit.disconnect()
  // A round trip through the server after the close frame: its session has ended by then.
  await server.rest('GET', `/v1/accounts/${accid}`)
  return { accid, subscription, key: key() }
}

const pushesTo = (endpoint: string) => push.delivered.filter((p) => push.base + p.path === endpoint)

async function waitForPush(endpoint: string, count: number, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (pushesTo(endpoint).length < count) {
    if (Date.now() > deadline) {
      throw new Error(`${count} pushes not within ${timeoutMs} ms: ${pushesTo(endpoint).length}; ${push.failures}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return pushesTo(endpoint)
}

describe('Web Push ringing', () => {
  it('a call to an account with no device online but a subscription rings it by push, and a cancel turns it into a missed call', async () => {
    const bob = await subscribedAndGone('zh-CN')
    const alice = await TestDevice.online(server, fresh('alice'))
    const call = await alice.kit.call({ to: bob.accid, type: 'video', timeoutMs: 20_000 })
    const [ring] = await waitForPush(bob.subscription.endpoint, 1)
    assert.equal(ring!.payload.kind, 'ring')
    assert.equal(ring!.payload.callId, call.callId)
    assert.equal(ring!.payload.caller, alice.accid)
    assert.equal(ring!.payload.name, alice.accid)
    assert.equal(ring!.payload.type, 'video')
    assert.equal(ring!.payload.lang, 'zh-CN')
    assert.equal(ring!.urgency, 'high')
    assert.equal(ring!.topic, call.callId.replaceAll('-', ''))
    assert.ok(ring!.ttl > 15 && ring!.ttl <= 20, `TTL is the ring time left: ${ring!.ttl}`)
    assert.equal(ring!.vapid.aud, push.base)
    assert.match(
      String(ring!.headers.authorization),
      new RegExp(`k=${bob.key}$`),
      'signed with the key the SDK subscribed with',
    )
    assert.match(ring!.vapid.sub, /^mailto:/)
    await call.cancel()
    const [, missed] = await waitForPush(bob.subscription.endpoint, 2)
    assert.equal(missed!.payload.kind, 'missed')
    assert.equal(missed!.payload.callId, call.callId)
    assert.equal(missed!.topic, ring!.topic, 'the same Topic: it replaces the ring if still held')
  })

  it('Decline from the notification (its token) ends the call with status 3 at the caller; a forged token does nothing', async () => {
    const bob = await subscribedAndGone()
    const alice = await TestDevice.online(server, fresh('alice'))
    const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
    const [ring] = await waitForPush(bob.subscription.endpoint, 1)
    const url = String(ring!.payload.declineUrl)
    assert.equal(url, `${server.url}/v1/push/decline`)
    const post = async (token: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) })
    // Another account's token made of Bob's: the signature no longer matches what it signs.
    const [head, body, signature] = String(ring!.payload.declineToken).split('.')
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<string, unknown>
    const altered = Buffer.from(JSON.stringify({ ...claims, sub: alice.accid })).toString('base64url')
    const forged = await post(`${head}.${altered}.${signature}`)
    assert.equal(forged.status, 400)
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'TOKEN_INVALID')
    const declined = await post(String(ring!.payload.declineToken))
    assert.equal(declined.status, 200)
    assert.equal(declined.headers.get('access-control-allow-origin'), '*')
    const record = await alice.next('record')
    assert.equal(record.callId, call.callId)
    assert.equal(record.status, RECORD_STATUS.rejected)
    const again = await post(String(ring!.payload.declineToken))
    assert.equal(again.status, 404, 'the call is over')
    // As after a decline in the app, the caller may not ring again at once.
    await assert.rejects(alice.kit.call({ to: bob.accid, type: 'audio' }), { code: 'DECLINED_RECENTLY' })
  })

  it('a login after the ring shows the missed call, in the login result and as a missedCall event', async () => {
    const bob = await subscribedAndGone()
    const alice = await TestDevice.online(server, fresh('alice'))
    const call = await alice.kit.call({ to: bob.accid, type: 'audio', timeoutMs: 1000 })
    await alice.next('record', undefined, 5000)
    const device = new TestDevice(server, bob.accid)
    const { tokenFor } = await import('./support.ts')
    const info = await device.kit.login({ accid: bob.accid, token: await tokenFor(server, bob.accid) })
    assert.deepEqual(
      info.missedCalls.map((r) => [r.callId, r.status]),
      [[call.callId, RECORD_STATUS.timeout]],
    )
    assert.equal((await device.next('missedCall')).callId, call.callId)
    // A second device logging in while the first is online hears of none again.
    const second = new TestDevice(server, bob.accid)
    const again = await second.kit.login({ accid: bob.accid, token: await tokenFor(server, bob.accid) })
    assert.deepEqual(again.missedCalls, [])
  })

  it('answered on a device that came online, the ring is taken away', async () => {
    const bob = await subscribedAndGone()
    const alice = await TestDevice.online(server, fresh('alice'))
    const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
    await waitForPush(bob.subscription.endpoint, 1)
    const device = await TestDevice.online(server, bob.accid)
    await (await device.next('invited')).call.accept()
    await alice.next('userAccept')
    await call.hangup()
    const [, clear] = await waitForPush(bob.subscription.endpoint, 2)
    assert.equal(clear!.payload.kind, 'clear')
  })

  it('a subscription the push service answers 410 to is dropped: the next call finds the account offline', async () => {
    const bob = await subscribedAndGone()
    push.answer((path) => (bob.subscription.endpoint.endsWith(path) ? 410 : 201))
    try {
      const alice = await TestDevice.online(server, fresh('alice'))
      const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
      await waitForPush(bob.subscription.endpoint, 1)
      await call.cancel()
      await alice.next('record')
      const deadline = Date.now() + 5000
      for (;;) {
        const again = await alice.kit.call({ to: bob.accid, type: 'audio' }).then(
          async (c) => {
            await c.cancel()
            return 'rang'
          },
          (error: { code?: string }) => error.code,
        )
        if (again === 'CALLEE_OFFLINE') break
        assert.ok(Date.now() < deadline, 'the subscription is still kept')
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      push.answer(() => 201)
    }
  })

  it('a subscription whose endpoint is not a push service is refused, and disablePush removes one', async () => {
    const plain = await startTestServer()
    try {
      const device = await TestDevice.online(plain, fresh('carl'))
      const { reg } = registration(push.subscription())
      await assert.rejects(device.kit.enablePush({ serviceWorker: reg }), { code: 'INVALID_PARAMS' })
    } finally {
      await plain.close()
    }
    const bob = await subscribedAndGone()
    const device = await TestDevice.online(server, bob.accid, { deviceId: 'another' })
    await device.kit.disablePush()
    const alice = await TestDevice.online(server, fresh('alice'))
    // Bob's first device still has its subscription: only the device that disabled push lost one.
    const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
    await device.next('invited')
    await call.cancel()
  })

  it('a group call rings its offline members by push, those invited later too', async () => {
    const [first, later] = [await subscribedAndGone(), await subscribedAndGone()]
    const ann = await TestDevice.online(server, fresh('ann'))
    const cat = await TestDevice.online(server, fresh('cat'))
    const call = await ann.kit.groupCall({ to: [cat.accid, first.accid], type: 'video' })
    const [ring] = await waitForPush(first.subscription.endpoint, 1)
    assert.equal(ring!.payload.callId, call.callId)
    assert.equal(ring!.payload.isGroup, true)
    await (await cat.next('invited')).call.accept()
    await ann.next('userAccept')
    await call.invite([later.accid])
    const [invited] = await waitForPush(later.subscription.endpoint, 1)
    assert.equal(invited!.payload.kind, 'ring')
    assert.equal(invited!.payload.callId, call.callId)
    await call.hangup()
  })

  it('signing out drops the device subscription, and a revoke drops all of the account and voids its decline tokens', async () => {
    const signedOut = fresh('sam')
    const device = await TestDevice.online(server, signedOut)
    await device.kit.enablePush({ serviceWorker: pushRegistration(push.subscription()).reg })
    await device.kit.logout()
    const alice = await TestDevice.online(server, fresh('alice'))
    await assert.rejects(alice.kit.call({ to: signedOut, type: 'audio' }), { code: 'CALLEE_OFFLINE' })

    const bob = await subscribedAndGone()
    const call = await alice.kit.call({ to: bob.accid, type: 'audio' })
    const [ring] = await waitForPush(bob.subscription.endpoint, 1)
    assert.equal((await server.rest('POST', `/v1/accounts/${bob.accid}/revoke`)).status, 200)
    const declined = await fetch(String(ring!.payload.declineUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: ring!.payload.declineToken }),
    })
    assert.equal(((await declined.json()) as { error: { code: string } }).error.code, 'TOKEN_REVOKED')
    await call.cancel()
    await alice.next('record', (r) => r.callId === call.callId)
    await assert.rejects(alice.kit.call({ to: bob.accid, type: 'audio' }), { code: 'CALLEE_OFFLINE' })
  })
})
