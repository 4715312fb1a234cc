import { after, before } from 'node:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Locator, Page } from 'playwright-core'
import type { Locale } from '@ringkit/ui'
import { DEFAULT_SETTINGS, type App, type ServerOptions } from '../../../packages/server/src/index.ts'
import { registerDemo, type DemoOptions } from '../src/server/index.ts'
import { rest, startTestServer, type TestServer } from '../../../packages/server/test/support.ts'
import { chromiumPath, launchChromium } from '../../../packages/client/test/browser.ts'

/**
 * A RingKit server on port 0 with the demo app mounted at `/`, as `ringkit serve` runs it. Its `app`
 * and `rest` are the demo's own app, whose accounts the demo's users are; `defaultApp` is the other.
 * With `dataDir`, the server runs on that data and leaves it in place, as a restart would.
 */
export async function startDemoServer(
  options: { demo?: Partial<DemoOptions>; server?: Partial<ServerOptions>; dataDir?: string } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ringkit-demo-'))
  let demoApp: App | undefined
  const server = await startTestServer({
    dataDir,
    host: '127.0.0.1',
    // Real heartbeats and resume grace: the test server's one-second beat drops a browser's socket
    // when two Chromium calls starve the machine, and these tests are about the UI, not resumption.
    heartbeatMs: DEFAULT_SETTINGS.heartbeatMs,
    resumeGraceMs: DEFAULT_SETTINGS.resumeGraceMs,
    ...options.server,
    mount: async (app, ctx) => {
      demoApp = await ctx.ownApp('demo')
      registerDemo(app, {
        dataDir,
        ringkitUrl: ctx.url,
        appKey: demoApp.appKey,
        appSecret: demoApp.appSecret,
        // Every test user signs up from the same address.
        authAttemptsPerMinute: 1000,
        signupsPerMinute: 1000,
        ...options.demo,
      })
    },
  })
  if (!demoApp) throw new Error('the demo was not mounted')
  return {
    ...server,
    app: demoApp,
    rest: rest(server.url, demoApp),
    async close() {
      await server.close()
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Registers a browser suite's hooks: a demo server, and Chromium where one is installed. Gives the
 * suite whether Chromium is there and people signed up through the demo's own pages, each in a
 * fresh browser context.
 */
export function demoInChromium() {
  let server: TestServer | undefined
  let browser: Browser | undefined
  before(async () => {
    server = await startDemoServer()
    if (typeof chromiumPath === 'string') browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await server?.close()
  })
  return {
    hasBrowser: () => browser !== undefined,
    signUp: async (username: string, displayName: string, viewport = DESKTOP): Promise<DemoUserPage> =>
      signUp(await openDemo(browser!, server!.url, viewport, 'en'), username, displayName),
  }
}

export interface Viewport {
  width: number
  height: number
}
export const PHONE: Viewport = { width: 390, height: 844 }
export const DESKTOP: Viewport = { width: 1280, height: 800 }

/** Takes a named screenshot when a directory is set; the tests run the same flows without one. */
export class Camera {
  readonly dir: string | undefined
  constructor(dir: string | undefined, suffix: string) {
    this.dir = dir && join(dir, suffix)
    if (this.dir) mkdirSync(this.dir, { recursive: true })
  }
  async shoot(page: Page, name: string): Promise<void> {
    if (!this.dir) return
    // Let entrance animations finish so the picture shows the state, not a fade.
    await page.waitForTimeout(450)
    await page.screenshot({ path: join(this.dir, `${name}.png`) })
  }
}

export interface DemoUserPage {
  page: Page
  username: string
  displayName: string
}

export async function openDemo(browser: Browser, url: string, viewport: Viewport, locale: Locale): Promise<Page> {
  const context = await browser.newContext({ viewport, locale, deviceScaleFactor: 1 })
  await context.addInitScript((l) => localStorage.setItem('ringkit-demo.locale', l), locale)
  // Two Chromium pages in a real call share two cores with the other suites: give waits room.
  context.setDefaultTimeout(60_000)
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  // The pages' own warnings and errors explain a failed wait better than the timeout does.
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') console.error('page console:', message.text())
  })
  await page.goto(url)
  return page
}

export async function signUp(page: Page, username: string, displayName: string): Promise<DemoUserPage> {
  await page.locator('form button.link').click()
  await page.locator('input[name=username]').fill(username)
  await page.locator('input[name=displayName]').fill(displayName)
  await page.locator('input[name=password]').fill('correct horse battery')
  await page.locator('form button[type=submit]').click()
  await online(page)
  return { page, username, displayName }
}

/** Waits until the page's RingKit client is logged in (the green dot). */
export async function online(page: Page): Promise<void> {
  await page.locator('.status-dot.online').first().waitFor({ state: 'attached' })
}

/** The text of the toast the page shows, once it shows one. */
export async function toast(page: Page): Promise<string> {
  const element = part(page, 'toast')
  await element.waitFor()
  return (await element.innerText()).trim()
}

export function callUi(page: Page): Locator {
  return page.locator('ringkit-call')
}

export function part(page: Page, name: string): Locator {
  return page.locator(`ringkit-call [part~="${name}"]`)
}

export async function callFromContacts(from: Page, to: DemoUserPage, type: 'audio' | 'video'): Promise<void> {
  await from.locator('a.nav-item[href="#/contacts"]:visible').click()
  await from.locator('input[type=search]').fill(to.displayName.slice(0, 4))
  const row = from.locator('li.row', { hasText: `@${to.username}` })
  await row.waitFor()
  await row
    .locator('button.round')
    .nth(type === 'audio' ? 0 : 1)
    .click()
}

export async function state(page: Page, expected: string): Promise<void> {
  await page.waitForFunction(
    (s) => document.querySelector('demo-app')?.shadowRoot?.querySelector('ringkit-call')?.getAttribute('state') === s,
    expected,
  )
}

/** True once the remote <video> of the call UI has decoded frames and plays on. */
export async function remoteVideoPlays(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const ui = document.querySelector('demo-app')?.shadowRoot?.querySelector('ringkit-call')
    const video = ui?.shadowRoot?.querySelector<HTMLVideoElement>('video.remote')
    if (!video) return false
    const quality = video.getVideoPlaybackQuality()
    return video.videoWidth > 0 && quality.totalVideoFrames > 10 && !video.paused
  })
}

export async function openHistory(page: Page): Promise<Locator> {
  await page.locator('a.nav-item[href="#/history"]:visible').click()
  return page.locator('ul.history li.row')
}

/** Sets how long this page's calls ring (the UI uses the SDK's default otherwise). */
export async function setCallTimeout(page: Page, ms: number): Promise<void> {
  await page.evaluate((timeout) => {
    const app = document.querySelector('demo-app') as (Element & { kit?: { setCallTimeout(ms: number): void } }) | null
    app?.kit?.setCallTimeout(timeout)
  }, ms)
}

/** Starts a group call from the contacts page: "Group call", tick each person, then audio or video. */
export async function groupCallFromContacts(
  from: Page,
  to: DemoUserPage[],
  type: 'audio' | 'video',
  /** Runs with everyone ticked, before the call is placed (a screenshot). */
  picked?: () => Promise<void>,
): Promise<void> {
  // Coming back to the page lists everyone, those who signed up since too.
  await from.locator('a.nav-item[href="#/history"]:visible').click()
  await from.locator('a.nav-item[href="#/contacts"]:visible').click()
  await from.locator('input[type=search]').fill('')
  for (const user of to) await from.locator('li.row', { hasText: `@${user.username}` }).waitFor()
  await from.locator('button.group-call').click()
  for (const user of to)
    await from
      .locator('li.pickable', { hasText: `@${user.username}` })
      .locator('label')
      .click()
  await picked?.()
  await from
    .locator('.pick-actions button.primary')
    .nth(type === 'audio' ? 0 : 1)
    .click()
}

/** The group call's tiles on this page, one per member shown. */
export function tiles(page: Page): Locator {
  return part(page, 'tile')
}

/** The accid this page's RingKit client is logged in as. */
export async function accidOf(page: Page): Promise<string> {
  return page.evaluate(
    () => (document.querySelector('demo-app') as (Element & { kit?: { accid?: string } }) | null)?.kit?.accid ?? '',
  )
}

/** Reads `read` until `done` says yes (a minute at most): a condition, never a fixed wait. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after a minute`)
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

/** Whose tiles the grid shows, and where each member stands. */
export function shownTiles(page: Page): Promise<{ accid: string; status: string }[]> {
  return tiles(page).evaluateAll((figures) =>
    figures.map((f) => ({
      accid: (f as HTMLElement).dataset.accid ?? '',
      status: (f as HTMLElement).dataset.status ?? '',
    })),
  )
}

/** Waits until the page's grid shows exactly `accids`, each tile in `status`. */
export async function grid(page: Page, status: string, ...accids: string[]): Promise<void> {
  await until(
    () => shownTiles(page),
    (shown) =>
      shown.length === accids.length && accids.every((a) => shown.some((t) => t.accid === a && t.status === status)),
    `a grid of ${accids.length} ${status}`,
  )
}

/**
 * Waits until every other member's tile plays video: decoded frames (`videoWidth` > 0) and a
 * `currentTime` that moves on. Returns whose videos they are.
 */
export async function othersPlay(page: Page, count: number): Promise<string[]> {
  const videos = page.locator('ringkit-call figure.tile:not(.me) video')
  const read = () =>
    videos.evaluateAll((elements) =>
      (elements as HTMLVideoElement[]).map((v) => ({
        accid: v.closest('figure')?.dataset.accid ?? '',
        width: v.videoWidth,
        time: v.currentTime,
      })),
    )
  const start = await until(read, (v) => v.length === count && v.every((one) => one.width > 0), 'decoded video')
  const advanced = (now: typeof start) =>
    start.every((s) => (now.find((v) => v.accid === s.accid)?.time ?? 0) > s.time + 0.3)
  await until(read, advanced, 'video playing on')
  return start.map((v) => v.accid).sort()
}
