import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Worker } from 'playwright-core'
import { RECORD_STATUS } from '@ringkit/protocol'
import type { Call, RingKit } from '../src/index.ts'
import { startTestServer, tokenFor, TestDevice, type TestServer } from '../../server/test/support.ts'
import { pushRegistration, pushService, type PushService } from '../../server/test/push-service.ts'
import { chromiumPath, framesBothWays, launchChromium, loggedInPage, openSdkPage, pagesOrigin } from './browser.ts'

/** What a test page keeps on `window`. */
interface Harness {
  RingKitSDK: typeof import('../src/index.ts')
  kit: RingKit
  call?: Call
}

/** The worker's global scope, as far as the test reaches into it. */
interface WorkerScope {
  registration: ServiceWorkerRegistration
  ringkit: { onClick(notification: Notification, action: string): Promise<void> }
}

interface Shown {
  title: string
  tag: string
  body: string
  actions: string[]
  requireInteraction: boolean
}

let server: TestServer
let push: PushService
let browser: Browser | undefined
let n = 0
const fresh = (name: string) => `${name}${++n}`

before(async () => {
  push = await pushService()
  server = await startTestServer({ push: { endpointAllowed: (url) => url.origin === push.base } })
  if (typeof chromiumPath === 'string') browser = await launchChromium()
})
after(async () => {
  await TestDevice.closeAll()
  await browser?.close()
  await server.close()
  await push.close()
})

/**
 * The app's origin in a browser context: its service worker (which imports ringkit-sw.js)
 * registered from a page that is then closed, notifications allowed, and a DevTools session to hand
 * pushes to the worker as a push service would.
 */
async function appWithClosedPage(browser: Browser) {
  const origin = await pagesOrigin()
  const context = await browser.newContext()
  await context.grantPermissions(['notifications'], { origin })
  const blank = await context.newPage()
  const cdp = await context.newCDPSession(blank)
  const registrations = new Map<string, string>()
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: all }) => {
    for (const r of all) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId)
  })
  await cdp.send('ServiceWorker.enable')
  const page = await openSdkPage(browser, context)
  const workerStarted = context.waitForEvent('serviceworker')
  await page.evaluate(async (server) => {
    await navigator.serviceWorker.register(`/sw.js?server=${encodeURIComponent(server)}`)
    await navigator.serviceWorker.ready
  }, server.url)
  const worker = context.serviceWorkers()[0] ?? (await workerStarted)
  await page.close()
  const deadline = Date.now() + 5000
  while (!registrations.has(`${origin}/`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const registrationId = registrations.get(`${origin}/`)
  if (!registrationId) throw new Error('the service worker registration was not reported')
  return { context, cdp, worker, origin, registrationId }
}

type App = Awaited<ReturnType<typeof appWithClosedPage>>

/** What the worker shows for a call. */
const shown = (worker: Worker, tag: string): Promise<Shown[]> =>
  worker.evaluate(async (tag) => {
    const all = await (self as unknown as WorkerScope).registration.getNotifications({ tag })
    return all.map((n: Notification) => ({
      title: n.title,
      tag: n.tag,
      body: n.body,
      actions: ((n as unknown as { actions: { action: string }[] }).actions ?? []).map((a) => a.action),
      requireInteraction: n.requireInteraction,
    }))
  }, tag)

/**
 * Hands a push to the worker as the push service would, and waits until its notification for the
 * call reads `title`. One notification in about 90 did not show in a trial run of this machine's
 * Chromium, so a delivery is tried a second time before the test gives up.
 */
async function deliver(app: App, payload: Record<string, unknown>, title: RegExp): Promise<Shown> {
  for (let attempt = 1; ; attempt++) {
    await app.cdp.send('ServiceWorker.deliverPushMessage', {
      origin: app.origin,
      registrationId: app.registrationId,
      data: JSON.stringify(payload),
    })
    const deadline = Date.now() + 3000
    while (Date.now() < deadline) {
      const match = (await shown(app.worker, String(payload.callId))).find((s) => title.test(s.title))
      if (match) return match
      await new Promise((r) => setTimeout(r, 50))
    }
    if (attempt === 2) throw new Error(`no notification "${title}" after two deliveries`)
  }
}

async function pushesFor(endpoint: string, count: number) {
  const deadline = Date.now() + 5000
  for (;;) {
    const got = push.delivered.filter((p) => push.base + p.path === endpoint)
    if (got.length >= count) return got
    if (Date.now() > deadline) throw new Error(`${count} pushes not within 5 s; ${push.failures}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Bob's device subscribes on the push service (as a browser would), and its page closes. */
async function bobGone(lang: string) {
  const accid = fresh('bob')
  const device = await TestDevice.online(server, accid)
  const subscription = push.subscription()
  await device.kit.enablePush({ serviceWorker: pushRegistration(subscription).reg, lang })
  // The page closes: no logout, so the subscription stays.
  device.kit.disconnect()
  return { accid, endpoint: subscription.endpoint }
}

/** Alice calls Bob, whose page is closed, and the push service has the ring. */
async function ringWhileClosed(lang: string, type: 'audio' | 'video') {
  const bob = await bobGone(lang)
  const alice = await TestDevice.online(server, fresh('alice'))
  const call = await alice.kit.call({ to: bob.accid, type })
  const [ring] = await pushesFor(bob.endpoint, 1)
  return { bob, alice, call, ring: ring! }
}

describe('ringing a closed page through Web Push and ringkit-sw.js (Chromium)', () => {
  it('shows the call; Decline from the notification ends it with status 3 at the caller', async (t) => {
    if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
    const app = await appWithClosedPage(browser)
    try {
      const { alice, call, ring } = await ringWhileClosed('en', 'video')
      const notification = await deliver(app, ring.payload, /is video calling you/)
      assert.equal(notification.title, `${alice.accid} is video calling you`)
      assert.equal(notification.tag, call.callId)
      assert.deepEqual(notification.actions, ['accept', 'decline'])
      assert.equal(notification.requireInteraction, true)
      // The worker's own click handler, as Chromium runs it for the Decline action.
      await app.worker.evaluate(async (tag) => {
        const scope = self as unknown as WorkerScope
        const [n] = await scope.registration.getNotifications({ tag })
        await scope.ringkit.onClick(n!, 'decline')
      }, call.callId)
      const record = await alice.next('record')
      assert.equal(record.callId, call.callId)
      assert.equal(record.status, RECORD_STATUS.rejected)
      assert.deepEqual(await shown(app.worker, call.callId), [], 'the notification is gone')
    } finally {
      await app.context.close()
    }
  })

  it('a canceled call turns the notification into a missed call, in the language of the device, and the next login shows it', async (t) => {
    if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
    const app = await appWithClosedPage(browser)
    try {
      const { bob, alice, call, ring } = await ringWhileClosed('zh-CN', 'audio')
      await deliver(app, ring.payload, /邀请你语音通话/)
      await call.cancel()
      const [, missed] = await pushesFor(bob.endpoint, 2)
      const notice = await deliver(app, missed!.payload, /未接来电/)
      assert.equal(notice.title, `来自 ${alice.accid} 的未接来电`)
      assert.deepEqual(notice.actions, [])
      assert.equal((await shown(app.worker, call.callId)).length, 1, 'it replaced the ring: one per call')
      // Bob opens the app: the login tells of the call he missed.
      const page = await openSdkPage(browser!, app.context)
      const missedCalls = await page.evaluate(
        async ({ server, appKey, accid, token }) => {
          const w = window as unknown as Harness
          const kit = new w.RingKitSDK.RingKit({ server, appKey })
          const events: string[] = []
          kit.on('missedCall', (record) => events.push(record.callId))
          const info = await kit.login({ accid, token })
          return { login: info.missedCalls.map((r) => [r.callId, r.status]), events }
        },
        { server: server.url, appKey: server.app.appKey, accid: bob.accid, token: await tokenFor(server, bob.accid) },
      )
      assert.deepEqual(missedCalls.login, [[call.callId, RECORD_STATUS.canceled]])
      assert.deepEqual(missedCalls.events, [call.callId])
    } finally {
      await app.context.close()
    }
  })

  it('a page opened with ?ringkitCall= while the call rings answers it after login, and media flows both ways', async (t) => {
    if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
    const bob = await bobGone('en')
    const alice = await loggedInPage(browser, server, fresh('alice'))
    const callId = await alice.evaluate(async (to) => {
      const w = window as unknown as Harness
      w.call = await w.kit.call({ to, type: 'video' })
      return w.call.callId
    }, bob.accid)
    await pushesFor(bob.endpoint, 1)
    // What Accept opens: the app's page, naming the call.
    const page = await openSdkPage(browser, undefined, `?ringkitCall=${callId}`)
    const answered = await page.evaluate(
      async ({ server, appKey, accid, token }) => {
        const w = window as unknown as Harness
        w.kit = new w.RingKitSDK.RingKit({ server, appKey })
        await w.kit.login({ accid, token })
        const call = await w.kit.answerFromNotification()
        if (call) w.call = call
        return { callId: call?.callId, status: call?.status, address: location.search }
      },
      { server: server.url, appKey: server.app.appKey, accid: bob.accid, token: await tokenFor(server, bob.accid) },
    )
    assert.equal(answered.callId, callId)
    assert.equal(answered.address, '', 'the call is taken off the address: a reload answers nothing')
    const decoded = await framesBothWays(alice, page, 15_000)
    assert.ok(decoded[0] > 10 && decoded[1] > 10, `frames decoded: caller ${decoded[0]}, callee ${decoded[1]}`)
    await alice.evaluate(async () => (window as unknown as Harness).call?.hangup())
    await page.context().close()
    await alice.context().close()
  })
})
