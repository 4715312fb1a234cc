import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Page } from 'playwright-core'
import { chromiumPath, launchChromium } from '../../../packages/client/test/browser.ts'
import { pushService, type PushService } from '../../../packages/server/test/push-service.ts'
import type { TestServer } from '../../../packages/server/test/support.ts'
import {
  accidOf,
  callFromContacts,
  Camera,
  DESKTOP,
  online,
  openDemo,
  openHistory,
  part,
  PHONE,
  remoteVideoPlays,
  signUp,
  startDemoServer,
  state,
  type DemoUserPage,
  type Viewport,
} from './flows.ts'

let server: TestServer | undefined
let browser: Browser | undefined
let push: PushService
let users = 0
/** Pictures of what this suite shows, when RINGKIT_SCREENSHOTS names a directory. */
const camera = new Camera(process.env.RINGKIT_SCREENSHOTS, 'push')

before(async () => {
  push = await pushService()
  server = await startDemoServer({ server: { push: { endpointAllowed: (url) => url.origin === push.base } } })
  if (typeof chromiumPath === 'string') browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
  await push.close()
})

function skipWithoutChromium(t: { skip(message: string): void }): boolean {
  if (browser) return false
  t.skip(typeof chromiumPath === 'string' ? 'no browser' : chromiumPath.skip)
  return true
}

/**
 * A demo page whose browser reaches the test's push service: `pushManager.subscribe()` cannot
 * reach a real one here, so it answers with a subscription on the loopback service (the keys a
 * browser would make). Everything else (permission, the service worker) is Chromium's own.
 */
async function pageWithPush(viewport: Viewport, notifications: 'granted' | 'denied'): Promise<Page> {
  const page = await openDemo(browser!, server!.url, viewport, 'en')
  if (notifications === 'granted') await page.context().grantPermissions(['notifications'], { origin: server!.url })
  const subscription = push.subscription()
  // A string, not a function: the test's own source is transformed, and the page has none of its helpers.
  await page.context().addInitScript(`{
    const sub = ${JSON.stringify(subscription)}
    PushManager.prototype.subscribe = async (options) => ({
      endpoint: sub.endpoint,
      options: { applicationServerKey: options?.applicationServerKey ?? null, userVisibleOnly: true },
      toJSON: () => sub,
      unsubscribe: async () => true,
    })
    PushManager.prototype.getSubscription = async () => null
  }`)
  await page.reload()
  return page
}

/** Waits until the switch is on for good: checked, and no longer working on it (the subscription is kept). */
async function switchedOn(page: Page): Promise<void> {
  await page
    .waitForFunction(
      () => {
        const input = document.querySelector('demo-app')?.shadowRoot?.querySelector<HTMLInputElement>('input.switch')
        return input?.checked === true && !input.disabled
      },
      undefined,
      { timeout: 15_000 },
    )
    .catch(async (error: unknown) => {
      throw new Error(`the switch did not turn on: ${await page.locator('demo-app .note').innerText()}`, {
        cause: error,
      })
    })
}

/** Someone signed up on a desktop page with "Ring me when RingKit Demo is closed" turned on. */
async function withPushOn(username: string, displayName: string): Promise<{ page: Page; user: DemoUserPage }> {
  const page = await pageWithPush(DESKTOP, 'granted')
  const user = await signUp(page, username, displayName)
  await openSettings(page)
  await settingsSwitch(page).click()
  await switchedOn(page)
  return { page, user }
}

/** Signs someone who signed up before in, through the page's form. */
async function signIn(page: Page, user: DemoUserPage): Promise<void> {
  await page.locator('input[name=username]').fill(user.username)
  await page.locator('input[name=password]').fill('correct horse battery')
  await page.locator('form button[type=submit]').click()
}

/** Closes a page as a browser closes a tab, unload handlers and all, then its context. */
async function closePage(page: Page): Promise<void> {
  await page.close({ runBeforeUnload: true })
  await page.waitForEvent('close')
  await page.context().close()
}

const settingsSwitch = (page: Page) => page.locator('demo-app input.switch')

async function openSettings(page: Page): Promise<void> {
  await page.locator('a.nav-item[href="#/settings"]:visible').click()
  await settingsSwitch(page).waitFor()
}

describe('demo: ringing a closed page', () => {
  it('Settings says plainly when the browser blocks notifications, and leaves the switch off', async (t) => {
    if (skipWithoutChromium(t)) return
    const page = await pageWithPush(PHONE, 'denied')
    try {
      await signUp(page, `cara${++users}`, `Cara Blocked ${users}`)
      await openSettings(page)
      await settingsSwitch(page).click()
      const note = page.locator('demo-app .note.warn')
      await note.waitFor()
      assert.match(await note.innerText(), /Notifications are blocked for this site/)
      assert.equal(await settingsSwitch(page).isChecked(), false)
      await camera.shoot(page, 'settings-blocked-phone')
    } finally {
      await page.context().close()
    }
  })

  it('turned on, a call while the page is closed is pushed; back in, History has a badge and the call UI says who called', async (t) => {
    if (skipWithoutChromium(t)) return
    const n = ++users
    const { page: ben, user: bob } = await withPushOn(`ben${n}`, `Ben Closed ${n}`)
    assert.match(await ben.locator('demo-app .note').innerText(), /Calls show as a notification/)
    await camera.shoot(ben, 'settings-on-desktop')
    const benAccid = await accidOf(ben)
    // The page closes (its unload handlers run, as when a tab is closed): the device's session
    // ends, and with it the account's last device.
    await closePage(ben)

    const ann = await openDemo(browser!, server!.url, DESKTOP, 'en')
    try {
      await signUp(ann, `ann${n}`, `Ann Caller ${n}`)
      // Ann's page calls Ben through its SDK; the contacts page would do the same.
      const callId = await ann.evaluate(async (to) => {
        const app = document.querySelector('demo-app') as Element & {
          kit: { call(o: { to: string; type: 'audio' }): Promise<{ callId: string; cancel(): Promise<void> }> }
        }
        const call = await app.kit.call({ to, type: 'audio' })
        ;(window as unknown as { placed: typeof call }).placed = call
        return call.callId
      }, benAccid)
      const deadline = Date.now() + 10_000
      while (!push.delivered.some((p) => p.payload.callId === callId) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
      }
      const ring = push.delivered.find((p) => p.payload.callId === callId)
      assert.equal(ring?.payload.kind, 'ring', `pushed: ${push.failures}`)
      assert.equal(ring?.payload.name, `Ann Caller ${n}`, 'the push names the caller as the app knows them')
      await ann.evaluate(async () => (window as unknown as { placed: { cancel(): Promise<void> } }).placed.cancel())

      // Ben comes back and signs in.
      const back = await openDemo(browser!, server!.url, DESKTOP, 'en')
      try {
        await signIn(back, bob)
        await online(back)
        const badge = back.locator('demo-app .sidebar a.nav-item[href="#/history"] .badge')
        await badge.waitFor()
        assert.equal(await badge.innerText(), '1')
        const notice = part(back, 'notice')
        await notice.waitFor()
        assert.equal((await notice.innerText()).trim(), `Missed call from Ann Caller ${n}`)
        await camera.shoot(back, 'missed-call-desktop')
        const rows = await openHistory(back)
        await rows.first().waitFor()
        assert.equal(await badge.count(), 0, 'looking at History clears the badge')
      } finally {
        await back.context().close()
      }
    } finally {
      await ann.context().close()
    }
  })

  it('Accept opens the demo at ?ringkitCall=: after sign-in <ringkit-call> answers by itself, with live video', async (t) => {
    if (skipWithoutChromium(t)) return
    const n = ++users
    const { page: ben, user: bob } = await withPushOn(`bea${n}`, `Bea Away ${n}`)
    await closePage(ben)
    const ann = await openDemo(browser!, server!.url, DESKTOP, 'en')
    try {
      await signUp(ann, `abe${n}`, `Abe Caller ${n}`)
      await callFromContacts(ann, bob, 'video')
      await state(ann, 'outgoing')
      const deadline = Date.now() + 10_000
      let ring = push.delivered.find((p) => p.payload.name === `Abe Caller ${n}` && p.payload.kind === 'ring')
      while (!ring && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
        ring = push.delivered.find((p) => p.payload.name === `Abe Caller ${n}` && p.payload.kind === 'ring')
      }
      assert.ok(ring, `no ring pushed: ${push.failures}`)
      // What the worker's Accept opens: the demo's page, naming the call.
      const back = await openDemo(browser!, `${server!.url}/?ringkitCall=${ring.payload.callId}`, DESKTOP, 'en')
      try {
        await signIn(back, bob)
        await state(back, 'connected')
        await state(ann, 'connected')
        await remoteVideoPlays(back)
        await remoteVideoPlays(ann)
        assert.equal(await back.evaluate(() => location.search), '', 'the call is taken off the address')
        await camera.shoot(back, 'answered-from-notification-desktop')
        await part(ann, 'hangup').click()
        await state(back, 'idle')
      } finally {
        await back.context().close()
      }
    } finally {
      await ann.context().close()
    }
  })
})
