/**
 * Accept → first decoded remote video frame, in Chromium on loopback, RingKit next to a bare
 * baseline measured in the same run: two RTCPeerConnections in one page with the camera already
 * open, offer → first decoded frame. ICE cannot start before the callee accepts, so the baseline is
 * the floor. Run: npx tsx bench/setup.ts [calls=20] [ringMs=1000]
 */
import type { Page } from 'playwright-core'
import type { Call, RingKit } from '../packages/client/src/index.ts'
import { launchChromium, openSdkPage } from '../packages/client/test/browser.ts'
import { startTestServer, tokenFor, type TestServer } from '../packages/server/test/support.ts'
import { pct } from './percentile.ts'

const CALLS = Number(process.argv[2] ?? 20)
/** How long the callee's device rings before its user answers; it prepares meanwhile. */
const RING_MS = Number(process.argv[3] ?? 1000)

interface Page$ {
  RingKitSDK: typeof import('../packages/client/src/index.ts')
  kit: RingKit
  call?: Call
  firstFrameAt?: number
}

async function main() {
  const server = await startTestServer({ logger: (await import('pino')).pino({ level: 'silent' }) })
  const browser = await launchChromium(['--autoplay-policy=no-user-gesture-required'])
  try {
    const baseline = await measureBaseline(await openSdkPage(browser))
    const alice = await login(await openSdkPage(browser), server, 'bench-alice')
    const bob = await login(await openSdkPage(browser), server, 'bench-bob')
    const callerSide: number[] = []
    const calleeSide: number[] = []
    for (let i = 0; i < CALLS + 2; i++) {
      const [toCaller, toCallee] = await ringKitCall(alice, bob)
      // The first two warm up the browser's codecs and the server's code paths.
      if (i >= 2) {
        callerSide.push(toCaller)
        calleeSide.push(toCallee)
      }
    }
    const rows = [
      ['bare RTCPeerConnection pair: offer → first frame', baseline],
      ['RingKit: accept → first frame at the caller', callerSide],
      ['RingKit: accept → first frame at the callee', calleeSide],
    ] as const
    const base = pct(baseline, 50)
    console.log(
      `\n## bench/setup — ${CALLS} calls each, callee rings ${RING_MS} ms before answering, Chromium on loopback\n`,
    )
    console.log('| path | p50 ms | p95 ms | min ms | max ms | p50 / baseline p50 |')
    console.log('|---|---|---|---|---|---|')
    for (const [name, samples] of rows) {
      console.log(
        `| ${name} | ${fmt(pct(samples, 50))} | ${fmt(pct(samples, 95))} | ${fmt(Math.min(...samples))} | ${fmt(Math.max(...samples))} | ${(pct(samples, 50) / base).toFixed(2)}× |`,
      )
    }
    const ratio = pct(callerSide, 50) / base
    console.log(
      `\nTarget: RingKit p50 ≤ 1.25× baseline p50 — ${ratio <= 1.25 ? 'PASS' : 'FAIL'} (${ratio.toFixed(2)}×)`,
    )
  } finally {
    await browser.close()
    await server.close()
  }
}

async function login(page: Page, server: TestServer, accid: string): Promise<Page> {
  const token = await tokenFor(server, accid)
  await page.evaluate(
    async ({ url, appKey, accid, token }) => {
      const w = window as unknown as Page$
      w.kit = new w.RingKitSDK.RingKit({ server: url, appKey })
      await w.kit.login({ accid, token })
    },
    { url: server.url, appKey: server.app.appKey, accid, token },
  )
  return page
}

/** One call: returns accept → first remote frame presented, at the caller and at the callee. */
async function ringKitCall(alice: Page, bob: Page): Promise<[number, number]> {
  const ringing = bob.evaluate(
    () =>
      new Promise<void>((resolve) => {
        const w = window as unknown as Page$
        const off = w.kit.on('invited', ({ call }) => {
          off()
          w.call = call
          w.firstFrameAt = undefined
          // Inline on purpose: code passed to the page must not define named functions.
          const video = document.createElement('video')
          video.muted = true
          video.autoplay = true
          document.body.append(video)
          call.setupRemoteView(call.peer, video)
          video.requestVideoFrameCallback(() => (w.firstFrameAt = performance.timeOrigin + performance.now()))
          resolve()
        })
      }),
  )
  await alice.evaluate(async () => {
    const w = window as unknown as Page$
    w.firstFrameAt = undefined
    w.call = await w.kit.call({ to: 'bench-bob', type: 'video' })
    const video = document.createElement('video')
    video.muted = true
    video.autoplay = true
    document.body.append(video)
    w.call.setupRemoteView('bench-bob', video)
    video.requestVideoFrameCallback(() => (w.firstFrameAt = performance.timeOrigin + performance.now()))
  })
  await ringing
  await new Promise((r) => setTimeout(r, RING_MS))
  const acceptedAt = await bob.evaluate(async () => {
    const at = performance.timeOrigin + performance.now()
    await (window as unknown as Page$).call!.accept()
    return at
  })
  const frameAt = (page: Page) =>
    page
      .waitForFunction(() => (window as unknown as Page$).firstFrameAt, undefined, { timeout: 10_000, polling: 5 })
      .then((h) => h.jsonValue() as Promise<number>)
  const [atCaller, atCallee] = await Promise.all([frameAt(alice), frameAt(bob)])
  const ended = bob.evaluate(() => new Promise((r) => (window as unknown as Page$).kit.once('record', r)))
  await alice.evaluate(async () => {
    await (window as unknown as Page$).call!.hangup()
    document.querySelectorAll('video').forEach((v) => v.remove())
  })
  await ended
  await bob.evaluate(() => document.querySelectorAll('video').forEach((v) => v.remove()))
  return [atCaller - acceptedAt, atCallee - acceptedAt]
}

async function measureBaseline(page: Page): Promise<number[]> {
  return page.evaluate(
    async ({ calls }) => {
      const camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
      const samples: number[] = []
      for (let i = 0; i < calls + 2; i++) {
        const a = new RTCPeerConnection()
        const b = new RTCPeerConnection()
        a.onicecandidate = (e) => e.candidate && void b.addIceCandidate(e.candidate)
        b.onicecandidate = (e) => e.candidate && void a.addIceCandidate(e.candidate)
        const video = document.createElement('video')
        video.muted = true
        video.autoplay = true
        document.body.append(video)
        b.ontrack = (e) => (video.srcObject = e.streams[0] ?? null)
        const firstFrame = new Promise<number>((resolve) =>
          video.requestVideoFrameCallback(() => resolve(performance.timeOrigin + performance.now())),
        )
        const start = performance.timeOrigin + performance.now()
        for (const track of camera.getTracks()) a.addTrack(track, camera)
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription!)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription!)
        const at = await firstFrame
        if (i >= 2) samples.push(at - start)
        a.close()
        b.close()
        video.remove()
      }
      return samples
    },
    { calls: CALLS },
  )
}

const fmt = (ms: number) => ms.toFixed(1)

await main()
process.exit(0)
