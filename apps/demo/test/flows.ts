import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Locator, Page } from 'playwright-core'
import type { Locale } from '@ringkit/ui'
import { DEFAULT_SETTINGS, type ServerOptions } from '../../../packages/server/src/index.ts'
import { registerDemo, type DemoOptions } from '../src/server/index.ts'
import { startTestServer, type TestServer } from '../../../packages/server/test/support.ts'

/** A RingKit server on port 0 with the demo app mounted at `/`, as `ringkit serve` runs it. */
export async function startDemoServer(
  options: { demo?: Partial<DemoOptions>; server?: Partial<ServerOptions> } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ringkit-demo-'))
  const server = await startTestServer({
    dataDir,
    host: '127.0.0.1',
    // Real heartbeats and resume grace: the test server's one-second beat drops a browser's socket
    // when two Chromium calls starve the machine, and these tests are about the UI, not resumption.
    heartbeatMs: DEFAULT_SETTINGS.heartbeatMs,
    resumeGraceMs: DEFAULT_SETTINGS.resumeGraceMs,
    ...options.server,
    mount: (app, ctx) =>
      registerDemo(app, {
        dataDir,
        ringkitUrl: ctx.url,
        appKey: ctx.defaultApp.appKey,
        appSecret: ctx.defaultApp.appSecret,
        // Every test user signs up from the same address.
        authAttemptsPerMinute: 1000,
        ...options.demo,
      }),
  })
  return {
    ...server,
    async close() {
      await server.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
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
