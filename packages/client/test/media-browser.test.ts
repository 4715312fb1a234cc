import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Page } from 'playwright-core'
import type { RingKit, Call } from '../src/index.ts'
import { startTestServer, type TestServer } from '../../server/test/support.ts'
import { chromiumPath, framesBothWays, launchChromium, loggedInPage } from './browser.ts'

/** What the test page keeps on `window`. */
interface Harness {
  RingKitSDK: typeof import('../src/index.ts')
  kit: RingKit
  call: Call | undefined
  seen: {
    name: string
    accid?: string
    available?: boolean
    reason?: string
    type?: string
    state?: string
    status?: number
    durationSeconds?: number
  }[]
}

let server: TestServer
let browser: Browser | undefined
/** How far the call engine's clock runs ahead of the real one: moved on rather than waited for. */
let skewMs = 0

before(async () => {
  server = await startTestServer({ now: () => Date.now() + skewMs })
  if (typeof chromiumPath === 'string') browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server.close()
})

const device = (accid: string): Promise<Page> => loggedInPage(browser!, server, accid)

function waitFor(page: Page, name: string, match: Partial<Harness['seen'][number]> = {}) {
  return page.waitForFunction(
    ({ name, match }) =>
      (window as unknown as Harness).seen.find(
        (e) => e.name === name && Object.entries(match).every(([k, v]) => (e as Record<string, unknown>)[k] === v),
      ),
    { name, match },
    { timeout: 10_000 },
  )
}

describe('media in Chromium', () => {
  it('a video call decodes video on both sides; mute, camera off and a switch to audio reach the other side; both get the record', async (t) => {
    if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
    const alice = await device('ca1')
    const bob = await device('cb1')
    await alice.evaluate(async () => {
      const w = window as unknown as Harness
      w.call = await w.kit.call({ to: 'cb1', type: 'video' })
      w.call.setupLocalView(document.getElementById('local'))
      w.call.setupRemoteView('cb1', document.getElementById('remote'))
    })
    await waitFor(bob, 'invited')
    await bob.evaluate(async () => {
      const w = window as unknown as Harness
      w.call!.setupLocalView(document.getElementById('local'))
      w.call!.setupRemoteView('ca1', document.getElementById('remote'))
      await w.call!.accept()
    })
    await Promise.all([waitFor(alice, 'userEnter', { accid: 'cb1' }), waitFor(bob, 'userEnter', { accid: 'ca1' })])
    const frames = await framesBothWays(alice, bob, 10_000)
    assert.ok(frames[0] > 10 && frames[1] > 10, `frames decoded: caller ${frames[0]}, callee ${frames[1]}`)
    const playing = await bob.evaluate(() => (document.getElementById('remote') as HTMLVideoElement).videoWidth)
    assert.ok(playing > 0, 'the remote view shows the video')

    await alice.evaluate(() => (window as unknown as Harness).call!.enableLocalAudio(false))
    await waitFor(bob, 'audioAvailable', { accid: 'ca1', available: false })
    await alice.evaluate(() => (window as unknown as Harness).call!.enableLocalVideo(false))
    await waitFor(bob, 'videoAvailable', { accid: 'ca1', available: false })
    await bob.evaluate(() => (window as unknown as Harness).call!.switchType('audio'))
    await waitFor(alice, 'callTypeChange', { type: 'audio', state: 'switched' })
    assert.equal(await alice.evaluate(() => (window as unknown as Harness).call!.type), 'audio')

    skewMs += 61_000
    await alice.evaluate(() => (window as unknown as Harness).call!.hangup())
    await Promise.all([waitFor(alice, 'record', { status: 1 }), waitFor(bob, 'record', { status: 1 })])
    const durations = await Promise.all(
      [alice, bob].map((p) =>
        p.evaluate(() => (window as unknown as Harness).seen.find((e) => e.name === 'record')!.durationSeconds),
      ),
    )
    // The minute the clock moved on, and the seconds the call really took.
    for (const d of durations) assert.ok(d !== undefined && d >= 61 && d < 120, `plausible duration ${d}`)
  })

  it('a denied camera or no camera at all fails call() with a clear code, and nobody is rung', async (t) => {
    if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
    const bob = await device('eb1')
    const cases = [
      { args: [] as string[], withoutFakeUi: true, code: 'MEDIA_PERMISSION_DENIED' },
      {
        args: ['--use-fake-ui-for-media-stream'],
        withoutFakeUi: false,
        code: 'MEDIA_DEVICE_NOT_FOUND',
        noDevices: true,
      },
    ]
    for (const c of cases) {
      const other = await launchChromium(c.args, c.withoutFakeUi, c.noDevices)
      try {
        const page = await loggedInPage(other, server, 'ea1')
        const result = await page.evaluate(async () => {
          const { kit } = window as unknown as Harness
          try {
            await kit.call({ to: 'eb1', type: 'video' })
            return { code: 'none', message: '' }
          } catch (error) {
            const e = error as { code: string; message: string }
            return { code: e.code, message: e.message }
          } finally {
            await kit.logout()
          }
        })
        assert.equal(result.code, c.code)
        assert.match(result.message, /camera|microphone/i)
      } finally {
        await other.close()
      }
    }
    const rang = await bob.evaluate(
      () => (window as unknown as Harness).seen.filter((e) => e.name === 'invited').length,
    )
    assert.equal(rang, 0)
  })
})
