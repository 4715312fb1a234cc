// Screenshots of every state of the demo and the call UI, in both languages and two viewports:
// `npx tsx scripts/screenshots.ts [out-dir]` (default docs/screenshots). Needs Chromium, and CJK fonts
// (Debian: fonts-noto-cjk) for the Chinese pictures to show characters.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import type { Locale } from '@ringkit/ui'
import { launchChromium } from '../packages/client/test/browser.ts'
import {
  Camera,
  callFromContacts,
  DESKTOP,
  openDemo,
  openHistory,
  part,
  PHONE,
  remoteVideoPlays,
  setCallTimeout,
  signUp,
  startDemoServer,
  state,
  type Viewport,
} from '../apps/demo/test/flows.ts'

const outDir = process.argv[2] ?? 'docs/screenshots'
const NAMES: Record<Locale, [string, string, string]> = {
  en: ['Alice Chen', 'Bob Miller', 'Carol Diaz'],
  'zh-CN': ['陈晓雨', '李明', '王芳'],
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
  ['declined', 'Declined (caller’s side)'],
  ['history', 'History: completed, declined and missed calls'],
  ['settings', 'Settings: language and devices'],
  ['permission-denied', 'Camera and microphone denied'],
]

async function shootAll(browser: Browser, strict: Browser, locale: Locale, viewport: Viewport): Promise<void> {
  const server = await startDemoServer()
  const camera = new Camera(outDir, `${locale}-${viewport.width}`)
  const [nameA, nameB, nameC] = NAMES[locale]
  try {
    const a = await openDemo(browser, server.url, viewport, locale)
    await camera.shoot(a, 'login')
    const A = await signUp(a, 'alice', nameA)
    const b = await openDemo(browser, server.url, viewport, locale)
    const B = await signUp(b, 'bob', nameB)
    const c = await openDemo(strict, server.url, viewport, locale)
    await signUp(c, 'carol', nameC)

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
    await server.close()
  }
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
