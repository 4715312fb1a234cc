import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { findProgram } from '../../server/test/services.ts'
import { tokenFor, type ServerTarget } from '../../server/test/support.ts'
import type { Call, RingKit } from '../src/index.ts'

/** The flags every Chromium here starts with: no network of its own, fake camera and microphone. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
]

export const chromiumPath = findProgram('RINGKIT_CHROMIUM', ['/usr/bin/chromium'], 'apt-get install chromium')

/** `withoutFakeUi`: permission prompts are denied; `noDevices`: no camera or microphone at all. */
export async function launchChromium(
  extraArgs: string[] = [],
  withoutFakeUi = false,
  noDevices = false,
): Promise<Browser> {
  if (typeof chromiumPath !== 'string') throw new Error(chromiumPath.skip)
  const dropped = new Set([
    ...(withoutFakeUi ? ['--use-fake-ui-for-media-stream'] : []),
    ...(noDevices ? ['--use-fake-device-for-media-stream'] : []),
  ])
  const args = [...new Set([...CHROMIUM_ARGS, ...extraArgs])].filter((a) => !dropped.has(a))
  return chromium.launch({ executablePath: chromiumPath, headless: true, args })
}

let bundle: Promise<string> | undefined

/** The client SDK as one browser ES module, exposing `RingKit` on `window`. */
export function sdkBundle(): Promise<string> {
  bundle ??= build({
    stdin: {
      contents: "import * as sdk from './packages/client/src/index.ts'; Object.assign(window, { RingKitSDK: sdk })",
      resolveDir: new URL('../../../', import.meta.url).pathname,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    // The packages' source, as everywhere in the repository: their default exports are built files.
    conditions: ['@ringkit/source'],
    write: false,
  }).then((result) => result.outputFiles[0]!.text)
  return bundle
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>RingKit test</title>
<video id="local" autoplay playsinline muted></video><video id="remote" autoplay playsinline></video>
<script type="module" src="/sdk.js"></script>`

let pageServer: Promise<{ url: string; server: Server }> | undefined

/**
 * Serves the test page and the SDK bundle from loopback. Chromium lets a loopback page reach the
 * loopback RingKit server; a page it cannot place (a route fulfilled by the test) it would block.
 */
function servePages(): Promise<{ url: string; server: Server }> {
  pageServer ??= sdkBundle().then(async (js) => {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://page').pathname
      // The app's own service worker, as the README has one: it imports the RingKit server's.
      if (path === '/sw.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' })
        return res.end("importScripts(new URL(location.href).searchParams.get('server') + '/ringkit-sw.js')")
      }
      const isSdk = path === '/sdk.js'
      res.writeHead(200, { 'content-type': isSdk ? 'text/javascript' : 'text/html' })
      res.end(isSdk ? js : PAGE)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    server.unref()
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
  })
  return pageServer
}

/** The origin the test pages are served from. */
export async function pagesOrigin(): Promise<string> {
  return (await servePages()).url
}

/**
 * Opens the test page, with the SDK loaded as `window.RingKitSDK`, in a fresh browser context (or
 * `context`); `query` is added to its address.
 */
export async function openSdkPage(browser: Browser, context?: BrowserContext, query = ''): Promise<Page> {
  const { url } = await servePages()
  const page = await (context ?? (await browser.newContext())).newPage()
  await page.goto(`${url}/index.html${query}`)
  await page.waitForFunction(() => 'RingKitSDK' in window)
  return page
}

/**
 * A page whose RingKit is logged in as `accid`: `window.kit`, every event it emits in `window.seen`
 * (name and the payload's plain fields), and the call last rung on this device in `window.call`.
 */
export async function loggedInPage(browser: Browser, server: ServerTarget, accid: string): Promise<Page> {
  const page = await openSdkPage(browser)
  const token = await tokenFor(server, accid)
  await page.evaluate(
    async ({ server, appKey, accid, token }) => {
      const w = window as unknown as {
        RingKitSDK: typeof import('../src/index.ts')
        kit: RingKit
        call?: Call
        seen: Array<Record<string, unknown>>
      }
      const kit = new w.RingKitSDK.RingKit({ server, appKey })
      w.kit = kit
      w.seen = []
      for (const name of Object.values(kit.EVENT)) {
        kit.on(name, (payload) => {
          const p = payload as Record<string, unknown>
          w.seen.push({ name, ...Object.fromEntries(Object.entries(p).filter(([, v]) => typeof v !== 'object')) })
          if (name === 'invited') w.call = p.call as Call
        })
      }
      await kit.login({ accid, token })
    },
    { server: server.url, appKey: server.app.appKey, accid, token },
  )
  return page
}

/** Video frames the page's call (`window.call`) decoded from the other side, per getStats(). */
export function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const stats = await (window as unknown as { call?: Call }).call?.getStats()
    let frames = 0
    stats?.forEach((r: { type: string; kind?: string; framesDecoded?: number }) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded ?? 0
    })
    return frames
  })
}

/** Frames decoded on both pages, sampled until each has more than 10 or `timeoutMs` passes. */
export async function framesBothWays(a: Page, b: Page, timeoutMs: number): Promise<[number, number]> {
  const deadline = Date.now() + timeoutMs
  let frames: [number, number] = [0, 0]
  while (Date.now() < deadline && !(frames[0] > 10 && frames[1] > 10)) {
    await new Promise((r) => setTimeout(r, 200))
    frames = [await framesDecoded(a), await framesDecoded(b)]
  }
  return frames
}
