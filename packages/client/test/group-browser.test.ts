import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Page } from 'playwright-core'
import type { CallRecord } from '@ringkit/protocol'
import type { Call, RingKit } from '../src/index.ts'
import { startTestServer, type TestServer } from '../../server/test/support.ts'
import { findProgram, startJanus, type Janus } from '../../server/test/services.ts'
import { chromiumPath, launchChromium, loggedInPage } from './browser.ts'

const janusBinary = findProgram('RINGKIT_JANUS', ['/usr/bin/janus'], 'apt-get install janus')
const skip =
  typeof chromiumPath !== 'string' ? chromiumPath.skip : typeof janusBinary !== 'string' ? janusBinary.skip : false

/** What each test page keeps on `window`. */
interface Harness {
  RingKitSDK: typeof import('../src/index.ts')
  kit: RingKit
  call: Call | undefined
  seen: Array<{ name: string; accid?: string; reason?: string }>
  records: CallRecord[]
  /** One muted <video> per other member, bound with setupRemoteView. */
  views: Record<string, HTMLVideoElement>
}

let janus: Janus | undefined
let server: TestServer
let browser: Browser | undefined

before(async () => {
  if (skip) return
  janus = await startJanus(janusBinary as string)
  server = await startTestServer({ janus: { urls: [janus.url], apiSecret: janus.apiSecret } })
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
  await janus?.stop()
})

async function member(accid: string): Promise<Page> {
  const page = await loggedInPage(browser!, server, accid)
  await page.evaluate(() => {
    const w = window as unknown as Harness
    Object.assign(w, { records: [], views: {} })
    w.kit.on('record', (record) => w.records.push(record))
    // A member's media in: show it in a tile, as an app's grid would. Tiles stay on screen:
    // Chromium pauses a muted autoplay <video> that is scrolled out of view.
    w.kit.on('userEnter', ({ call, accid: who }) => {
      const view = (w.views[who] ??= document.body.appendChild(document.createElement('video')))
      Object.assign(view.style, { width: '240px', height: '180px' })
      view.muted = true
      view.autoplay = true
      view.playsInline = true
      call.setupRemoteView(who, view)
    })
  })
  return page
}

function seen(page: Page, name: string, accid?: string): Promise<unknown> {
  return page.waitForFunction(
    ({ name, accid }) =>
      (window as unknown as Harness).seen.some((e) => e.name === name && (accid === undefined || e.accid === accid)),
    { name, accid },
    { timeout: 20_000 },
  )
}

/**
 * Resolves once `page` shows moving video from every one of `others`: the video track in that
 * member's view keeps decoding frames, and the view plays them.
 */
async function decodesVideoFrom(page: Page, others: string[]): Promise<void> {
  const moving = page.waitForFunction(
    async (others) => {
      const w = window as unknown as Harness & {
        lastFrames?: Record<string, number>
        lastTimes?: Record<string, number>
      }
      const last = (w.lastFrames ??= {})
      const lastTime = (w.lastTimes ??= {})
      const decoded = new Map<string, number>()
      ;(await w.call?.getStats())?.forEach((r: Record<string, unknown>) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video')
          decoded.set(String(r.trackIdentifier), Number(r.framesDecoded))
      })
      return others.every((accid) => {
        const view = w.views[accid]
        const track = (view?.srcObject as MediaStream | null | undefined)?.getVideoTracks()[0]
        if (!view || view.videoWidth === 0 || !track) return false
        const frames = decoded.get(track.id) ?? 0
        const moved = frames > (last[accid] ?? 0) + 3 && view.currentTime > (lastTime[accid] ?? 0) + 0.2
        if (!moved) return false
        last[accid] = frames
        lastTime[accid] = view.currentTime
        return true
      })
    },
    others,
    { timeout: 30_000, polling: 250 },
  )
  await moving.catch(async (error: unknown) => {
    const state = await page.evaluate(async () => {
      const w = window as unknown as Harness
      const views = Object.entries(w.views).map(([a, v]) => `${a} ${v.videoWidth}x${v.videoHeight} t=${v.currentTime}`)
      // What arrived on each video stream: packets but no frames, or nothing at all.
      const video: string[] = []
      ;(await w.call?.getStats())?.forEach((r: Record<string, unknown>) => {
        if (r.type !== 'inbound-rtp' || r.kind !== 'video') return
        const { mid, packetsReceived, framesDecoded, keyFramesDecoded, pliCount, nackCount, freezeCount } = r
        video.push(
          JSON.stringify({ mid, packetsReceived, framesDecoded, keyFramesDecoded, pliCount, nackCount, freezeCount }),
        )
      })
      return { me: w.kit.accid, views, video, seen: w.seen.map((e) => `${e.name}${e.accid ? ` ${e.accid}` : ''}`) }
    })
    throw new Error(`no moving video from ${others.join(', ')}: ${JSON.stringify(state)}`, { cause: error })
  })
}

describe('a group video call through Janus, in Chromium', { skip }, () => {
  it('four members see each other; one invited mid-call joins, one leaves; everyone gets the record', async () => {
    const [ann, bob, cat, dan] = await Promise.all(['gAnn', 'gBob', 'gCat', 'gDan'].map(member))
    if (!ann || !bob || !cat || !dan) return assert.fail('pages')
    await ann.evaluate(async () => {
      const w = window as unknown as Harness
      w.call = await w.kit.groupCall({ to: ['gBob', 'gCat'], type: 'video' })
    })
    for (const page of [bob, cat]) {
      await seen(page, 'invited')
      await page.evaluate(async () => (window as unknown as Harness).call!.accept())
    }
    await Promise.all([
      decodesVideoFrom(ann, ['gBob', 'gCat']),
      decodesVideoFrom(bob, ['gAnn', 'gCat']),
      decodesVideoFrom(cat, ['gAnn', 'gBob']),
    ])

    // Bob invites Dan into the call under way; Dan answers and everyone sees everyone.
    await bob.evaluate(async () => (window as unknown as Harness).call!.invite(['gDan']))
    await seen(dan, 'invited')
    await dan.evaluate(async () => (window as unknown as Harness).call!.accept())
    const everyone = { gAnn: ann, gBob: bob, gCat: cat, gDan: dan }
    await Promise.all(
      Object.entries(everyone).map(async ([accid, page]) =>
        decodesVideoFrom(
          page,
          Object.keys(everyone).filter((other) => other !== accid),
        ),
      ),
    )

    // Cat leaves: the call goes on for the three others, who keep seeing each other.
    await cat.evaluate(async () => (window as unknown as Harness).call!.leave())
    await Promise.all([ann, bob, dan].map(async (page) => seen(page, 'userLeave', 'gCat')))
    await decodesVideoFrom(dan, ['gAnn', 'gBob'])
    assert.equal(await ann.evaluate(() => (window as unknown as Harness).call!.status), 'connected')

    await ann.evaluate(async () => (window as unknown as Harness).call!.hangup())
    const records = await Promise.all(
      [ann, bob, cat, dan].map(async (page) => {
        await page.waitForFunction(() => (window as unknown as Harness).records.length > 0, undefined, {
          timeout: 20_000,
        })
        return page.evaluate(() => (window as unknown as Harness).records)
      }),
    )
    for (const list of records) {
      assert.equal(list.length, 1)
      assert.deepEqual(list[0], records[0]![0])
    }
    const record = records[0]![0]!
    assert.equal(record.isGroup, true)
    assert.equal(record.status, 1)
    assert.deepEqual(record.callees, ['gBob', 'gCat', 'gDan'])
    assert.deepEqual(
      record.members.map((m) => m.status),
      ['joined', 'joined', 'joined', 'joined'],
    )
    const cats = record.members.find((m) => m.accid === 'gCat')!
    assert.ok(cats.leftAt! < record.endedAt, 'Cat left before the end')
  })
})
