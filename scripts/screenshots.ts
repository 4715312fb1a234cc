// Screenshots of every state of the demo and the call UI, in both languages and two viewports:
// `npx tsx scripts/screenshots.ts [out-dir]` (default docs/screenshots). Needs Chromium, and CJK fonts
// (Debian: fonts-noto-cjk) for the Chinese pictures to show characters.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import type { Locale } from '@ringkit/ui'
import { launchChromium } from '../packages/client/test/browser.ts'
import {
  accidOf,
  Camera,
  callFromContacts,
  DESKTOP,
  grid,
  groupCallFromContacts,
  openDemo,
  othersPlay,
  openHistory,
  part,
  PHONE,
  remoteVideoPlays,
  setCallTimeout,
  signUp,
  startDemoServer,
  state,
  type DemoUserPage,
  type Viewport,
} from '../apps/demo/test/flows.ts'

const outDir = process.argv[2] ?? 'docs/screenshots'
const NAMES: Record<Locale, [string, string, string, string]> = {
  en: ['Alice Chen', 'Bob Miller', 'Carol Diaz', 'Dave Park'],
  'zh-CN': ['陈晓雨', '李明', '王芳', '赵磊'],
}
const CAPTIONS: [file: string, caption: string][] = [
  ['login', 'Sign in'],
  ['contacts', 'Contacts with search'],
  ['outgoing', 'Outgoing video call (ringback)'],
  ['incoming', 'Incoming video call: decline, accept, answer as audio'],
  ['video', 'Video call: remote large, local small and draggable'],
  ['video-peer-muted', 'The other side muted: mic-off indicator'],
  ['devices', 'Device choice during a call'],
  ['audio', 'Audio call'],
  ['switch-request', 'The other side asks to switch to video'],
  ['minimized', 'Minimized to a floating, draggable window'],
  ['ended', 'Call ended toast, from the record'],
  ['group-pick', 'Group call: tick people on the contacts page, then audio or video'],
  ['group-outgoing', 'Group call placed: every tile “Calling…”'],
  ['group-incoming', 'Incoming group call: the caller, and who else is in it'],
  ['group-video', 'Group video call: a grid of tiles, the speaker ringed, mic-off marks'],
  ['group-invite', 'Inviting someone into a group call'],
  ['declined', 'Declined (caller’s side)'],
  ['history', 'History: group, completed, declined and missed calls'],
  ['settings', 'Settings: language and devices'],
  ['permission-denied', 'Camera and microphone denied'],
]

async function shootAll(browser: Browser, strict: Browser, locale: Locale, viewport: Viewport): Promise<void> {
  const server = await startDemoServer()
  const camera = new Camera(outDir, `${locale}-${viewport.width}`)
  const [nameA, nameB, nameC, nameD] = NAMES[locale]
  // Each set's pages close with it: pages left open keep redialing a server that is gone.
  const opened: Page[] = []
  const open = async (from: Browser) => {
    const page = await openDemo(from, server.url, viewport, locale)
    opened.push(page)
    return page
  }
  try {
    const a = await open(browser)
    await camera.shoot(a, 'login')
    const A = await signUp(a, 'alice', nameA)
    const b = await open(browser)
    const B = await signUp(b, 'bob', nameB)
    const c = await open(strict)
    await signUp(c, 'carol', nameC)
    const d = await open(browser)
    const D = await signUp(d, 'dave', nameD)

    // A declined call and a missed one first, so the history has all three kinds.
    await callFromContacts(a, B, 'audio')
    await state(b, 'incoming')
    await part(b, 'reject').click()
    await part(a, 'toast').waitFor()
    await camera.shoot(a, 'declined')
    await setCallTimeout(b, 1500)
    await callFromContacts(b, A, 'video')
    await state(a, 'incoming')
    await state(a, 'idle')
    await part(a, 'toast').waitFor({ state: 'detached' })

    await a.locator('input[type=search]').fill('')
    await a.locator('li.row').nth(1).waitFor()
    await camera.shoot(a, 'contacts')
    await callFromContacts(a, B, 'video')
    await state(b, 'incoming')
    await camera.shoot(a, 'outgoing')
    await camera.shoot(b, 'incoming')
    await part(b, 'accept').click()
    await remoteVideoPlays(a)
    await remoteVideoPlays(b)
    await camera.shoot(a, 'video')
    await part(a, 'mute').click()
    await part(b, 'peer-mic-off').waitFor()
    await camera.shoot(b, 'video-peer-muted')
    await part(a, 'settings').click()
    await part(a, 'devices').locator('select').first().waitFor()
    await camera.shoot(a, 'devices')
    await part(a, 'devices').locator('button').click()
    await part(a, 'to-audio').click()
    await b.locator('ringkit-call[call-type="audio"]').waitFor()
    await b.waitForTimeout(1500)
    await camera.shoot(b, 'audio')
    await part(b, 'to-video').click()
    await part(a, 'prompt').locator('button').first().waitFor()
    await camera.shoot(a, 'switch-request')
    await part(a, 'prompt').locator('button').first().click()
    await part(a, 'minimize').click()
    await camera.shoot(a, 'minimized')
    await part(a, 'mini').click()
    await part(a, 'hangup').click()
    await part(b, 'toast').waitFor()
    await camera.shoot(b, 'ended')
    await part(b, 'toast').waitFor({ state: 'detached' })
    await shootGroupCall(camera, A, B, D)
    const rows = await openHistory(b)
    await rows.nth(2).waitFor()
    await camera.shoot(b, 'history')
    await b.locator('a.nav-item[href="#/settings"]:visible').click()
    await b.locator('section.settings select').nth(1).waitFor()
    await b.waitForTimeout(600)
    await camera.shoot(b, 'settings')

    // Carol's browser denies camera and microphone.
    await callFromContacts(c, A, 'video')
    await part(c, 'notice').waitFor()
    await camera.shoot(c, 'permission-denied')
    await part(c, 'notice').locator('button').click()
  } finally {
    for (const page of opened) await page.context().close()
    await server.close()
  }
}

/** Alice rings Bob and Dave in a group video call; Carol, who has no camera, is the one to invite. */
async function shootGroupCall(camera: Camera, A: DemoUserPage, B: DemoUserPage, D: DemoUserPage): Promise<void> {
  const [a, b, d] = [A.page, B.page, D.page]
  await groupCallFromContacts(a, [B, D], 'video', async () => camera.shoot(a, 'group-pick'))
  await state(b, 'incoming')
  await state(d, 'incoming')
  await part(b, 'others').waitFor()
  await camera.shoot(a, 'group-outgoing')
  await camera.shoot(b, 'group-incoming')
  await part(b, 'accept').click()
  await part(d, 'accept').click()
  const [accidA, accidB, accidD] = await Promise.all([a, b, d].map(accidOf))
  await grid(a, 'joined', accidA!, accidB!, accidD!)
  await othersPlay(a, 2)
  // Only Bob talks: his tile gets the ring, Dave's and mine the mic-off mark.
  await part(a, 'mute').click()
  await part(d, 'mute').click()
  await part(a, 'tile-mic-off').nth(1).waitFor()
  await a.locator(`ringkit-call figure.tile.speaking[data-accid="${accidB}"]`).waitFor()
  await camera.shoot(a, 'group-video')
  await part(a, 'invite').click()
  await part(a, 'invitee').first().click()
  await camera.shoot(a, 'group-invite')
  await part(a, 'invite-sheet').locator('header button').click()
  await part(a, 'hangup').click()
  for (const page of [a, b, d]) await state(page, 'idle')
  await part(b, 'toast').waitFor({ state: 'detached' })
}

function gallery(): string {
  const sets = (['en', 'zh-CN'] as const).flatMap((l) => [PHONE, DESKTOP].map((v) => `${l}-${v.width}`))
  const lines = [
    '# RingKit screenshots',
    '',
    'Every state of the demo app and `<ringkit-call>`, in `en` and `zh-CN`, at 390×844 and 1280×800.',
    'Made by `npx tsx scripts/screenshots.ts` from real calls between Chromium pages (fake camera).',
    '',
  ]
  for (const [file, caption] of CAPTIONS) {
    lines.push(`## ${caption}`, '', `| ${sets.join(' | ')} |`, `|${sets.map(() => '---').join('|')}|`)
    lines.push(`| ${sets.map((s) => `![${s} ${file}](${s}/${file}.png)`).join(' | ')} |`, '')
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const browser = await launchChromium()
  const strict = await launchChromium([], true)
  try {
    for (const locale of ['en', 'zh-CN'] as const)
      for (const viewport of [PHONE, DESKTOP]) {
        await shootAll(browser, strict, locale, viewport)
        console.log(`shot ${locale} ${viewport.width}×${viewport.height}`)
      }
  } finally {
    await browser.close()
    await strict.close()
  }
  writeFileSync(join(outDir, 'README.md'), gallery())
}

await main()
