import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { chromiumPath, launchChromium } from '../../../packages/client/test/browser.ts'
import { tokenFor, type TestServer } from '../../../packages/server/test/support.ts'
import { startDemoServer } from './flows.ts'

const README = new URL('../../../README.md', import.meta.url)

/** The README's UI snippet, exactly as written there. */
function readmeSnippet(): string {
  const readme = readFileSync(README, 'utf8')
  const found = /<!-- snippet:start -->\s*```html\n([\s\S]*?)```\s*<!-- snippet:end -->/.exec(readme)
  assert.ok(found?.[1], 'README has the UI snippet between snippet markers')
  return found[1]
}

const THEME = `<style>
  ringkit-call { --ringkit-accept: rgb(1, 102, 3); --ringkit-font: monospace }
  ringkit-call::part(panel) { border-radius: 3px }
</style>`
const AVATAR = '<span slot="avatar" id="my-avatar">☎</span>'

let server: TestServer
let pages: Server
let pagesUrl = ''
let browser: Browser | undefined

before(async () => {
  server = await startDemoServer()
  // An app maker's site on another origin: the snippet's page at /<accid>/, and its backend's token route.
  const snippet = readmeSnippet()
    .replaceAll('http://localhost:3000', server.url)
    .replace('YOUR_APP_KEY', server.app.appKey)
  pages = createServer((req, res) => {
    const [, accid, rest] = /^\/(\w+)\/(.*)$/.exec(req.url ?? '') ?? []
    if (!accid) return void res.writeHead(404).end()
    if (rest === 'api/ringkit-token') {
      void tokenFor(server, accid).then((token) => res.writeHead(200).end(JSON.stringify({ accid, token })))
      return
    }
    // /<accid>/themed: the same page, themed by custom properties and ::part, with its own avatar in a slot.
    const page = rest === 'themed' ? THEME + snippet.replace('<ringkit-call>', `<ringkit-call>${AVATAR}`) : snippet
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><meta charset="utf-8">${page}`)
  })
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve))
  pagesUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`
  if (typeof chromiumPath === 'string') browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  pages?.close()
  await server.close()
})

async function open(accid: string, variant = ''): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en' })
  context.setDefaultTimeout(60_000)
  const page = await context.newPage()
  await page.goto(`${pagesUrl}/${accid}/${variant}`)
  await page.waitForFunction(
    () => (document.querySelector('ringkit-call') as { kit?: { online?: boolean } })?.kit?.online,
  )
  return page
}

it('the README snippet, loaded as is, gives a page that rings, answers and carries a video call', async (t) => {
  if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
  assert.ok(readmeSnippet().trim().split('\n').length <= 10, 'the snippet stays within ten lines')
  const alice = await open('alice')
  const bob = await open('bob')
  await alice.evaluate(() =>
    (document.querySelector('ringkit-call') as HTMLElement & { call(o: object): Promise<unknown> }).call({
      to: 'bob',
      type: 'video',
    }),
  )
  await bob.locator('ringkit-call[state="incoming"]').waitFor()
  assert.equal(await bob.locator('ringkit-call [part~="name"]').innerText(), 'alice')
  await bob.locator('ringkit-call [part~="accept"]').click()
  for (const page of [alice, bob]) {
    await page.locator('ringkit-call[state="connected"]').waitFor()
    await page.waitForFunction(() => {
      const video = document.querySelector('ringkit-call')?.shadowRoot?.querySelector<HTMLVideoElement>('video.remote')
      return !!video && video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames > 10
    })
  }
  await bob.locator('ringkit-call [part~="hangup"]').click()
  await alice.locator('ringkit-call[state="idle"]').waitFor()
  assert.match(await alice.locator('ringkit-call [part~="toast"]').innerText(), /^Call ended 00:0\d$/)
})

it('an app themes the call UI with custom properties and ::part, and puts its own avatar in the slot', async (t) => {
  if (!browser) return t.skip(typeof chromiumPath === 'string' ? '' : chromiumPath.skip)
  const carol = await open('carol')
  const dave = await open('dave', 'themed')
  await carol.evaluate(() =>
    (document.querySelector('ringkit-call') as HTMLElement & { call(o: object): Promise<unknown> }).call({
      to: 'dave',
      type: 'audio',
    }),
  )
  await dave.locator('ringkit-call[state="incoming"]').waitFor()
  const look = await dave.evaluate(() => {
    const root = document.querySelector('ringkit-call')!.shadowRoot!
    const accept = root.querySelector('[part~="accept"]')!
    const panel = root.querySelector('[part~="panel"]')!
    const slot = root.querySelector<HTMLSlotElement>('slot[name="avatar"]')!
    return {
      accept: getComputedStyle(accept).backgroundColor,
      radius: getComputedStyle(panel).borderTopLeftRadius,
      font: getComputedStyle(panel).fontFamily,
      slotted: slot.assignedElements().map((e) => e.id),
      avatarShown: document.getElementById('my-avatar')!.getBoundingClientRect().width > 0,
    }
  })
  assert.deepEqual(look, {
    accept: 'rgb(1, 102, 3)',
    radius: '3px',
    font: 'monospace',
    slotted: ['my-avatar'],
    avatarShown: true,
  })
  await dave.locator('ringkit-call [part~="reject"]').click()
  assert.equal(await carol.locator('ringkit-call [part~="toast"]').innerText(), 'Declined')
})
