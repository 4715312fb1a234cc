import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chromiumPath } from '../../../packages/client/test/browser.ts'
import {
  callFromContacts,
  demoInChromium,
  DESKTOP,
  openHistory,
  part,
  PHONE,
  remoteVideoPlays,
  setCallTimeout,
  state,
  toast,
  type DemoUserPage,
} from './flows.ts'

const demo = demoInChromium()
let users = 0

/** Two people signed up through the demo's own pages. */
async function twoUsers(viewport = DESKTOP): Promise<[DemoUserPage, DemoUserPage]> {
  const n = ++users
  return [
    await demo.signUp(`ann${n}`, `Ann Walker ${n}`, viewport),
    await demo.signUp(`ben${n}`, `Ben Ortiz ${n}`, viewport),
  ]
}

async function closeAll(...pages: DemoUserPage[]): Promise<void> {
  for (const { page } of pages) await page.context().close()
}

function skipWithoutChromium(t: { skip(message: string): void }): boolean {
  if (demo.hasBrowser()) return false
  t.skip(typeof chromiumPath === 'string' ? 'no browser' : chromiumPath.skip)
  return true
}

describe('demo app in two Chromium pages', () => {
  it('a video call placed from the contacts page rings, connects with live video, mutes, switches to audio, ends, and lands in both histories', async (t) => {
    if (skipWithoutChromium(t)) return
    const [a, b] = await twoUsers()
    await callFromContacts(a.page, b, 'video')
    await state(a.page, 'outgoing')
    await state(b.page, 'incoming')
    // The name comes from the app's resolver, a request after the ring.
    await part(b.page, 'name').filter({ hasText: a.displayName }).waitFor()
    assert.equal(await part(b.page, 'name').innerText(), a.displayName, 'the callee sees who calls')
    // Focus goes to the answer button, so a keyboard user can pick up at once.
    const focused = await b.page.evaluate(() => {
      const ui = document.querySelector('demo-app')?.shadowRoot?.querySelector('ringkit-call')
      return ui?.shadowRoot?.activeElement?.getAttribute('part')
    })
    assert.equal(focused, 'button accept')

    await part(b.page, 'accept').click()
    await state(a.page, 'connected')
    await state(b.page, 'connected')
    await remoteVideoPlays(a.page)
    await remoteVideoPlays(b.page)

    assert.equal(await part(b.page, 'peer-mic-off').count(), 0)
    await part(a.page, 'mute').click()
    await part(b.page, 'peer-mic-off').waitFor()
    assert.equal(await part(a.page, 'mute').getAttribute('aria-pressed'), 'true')

    await part(a.page, 'to-audio').click()
    for (const { page } of [a, b]) await page.locator('ringkit-call[call-type="audio"]').waitFor()
    await part(b.page, 'timer').waitFor()

    await b.page.waitForTimeout(1100) // so the call lasts a visible second
    await part(a.page, 'hangup').click()
    await state(a.page, 'idle')
    await state(b.page, 'idle')
    assert.match(await toast(a.page), /^Call ended 00:0\d$/)
    assert.match(await toast(b.page), /^Call ended 00:0\d$/)

    for (const [me, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const rows = await openHistory(me.page)
      await rows.first().waitFor()
      const text = await rows.first().innerText()
      assert.match(text, new RegExp(other.displayName))
      assert.match(text, /Call ended 00:0\d/)
    }
    await closeAll(a, b)
  })

  it('a declined call reads "Declined" for the caller and "You declined" for the callee', async (t) => {
    if (skipWithoutChromium(t)) return
    const [a, b] = await twoUsers(PHONE)
    await callFromContacts(a.page, b, 'audio')
    await state(b.page, 'incoming')
    await part(b.page, 'reject').click()
    assert.equal(await toast(a.page), 'Declined')
    assert.equal(await toast(b.page), 'You declined')
    await state(a.page, 'idle')
    await closeAll(a, b)
  })

  it('a call nobody answers is a missed call in the callee’s history and "No answer" for the caller', async (t) => {
    if (skipWithoutChromium(t)) return
    const [a, b] = await twoUsers()
    // Long enough that a loaded machine still shows the ringing panel before it times out.
    await setCallTimeout(a.page, 6_000)
    await callFromContacts(a.page, b, 'video')
    await state(b.page, 'incoming')
    assert.equal(await toast(a.page), 'No answer')
    assert.equal(await toast(b.page), 'Missed call')
    const rows = await openHistory(b.page)
    await rows.first().waitFor()
    assert.equal(await rows.first().getAttribute('class'), 'row missed')
    assert.match(await rows.first().innerText(), /Missed call/)
    await closeAll(a, b)
  })

  it('a video call answered as audio becomes an audio call on both sides, and Enter on the focused button answers', async (t) => {
    if (skipWithoutChromium(t)) return
    const [a, b] = await twoUsers(PHONE)
    await callFromContacts(a.page, b, 'video')
    await state(b.page, 'incoming')
    await part(b.page, 'accept-audio').focus()
    await b.page.keyboard.press('Enter')
    for (const { page } of [a, b]) {
      await state(page, 'connected')
      await page.locator('ringkit-call[call-type="audio"]').waitFor()
    }
    await part(b.page, 'hangup').click()
    assert.match(await toast(a.page), /^Call ended 00:0\d$/)
    await closeAll(a, b)
  })
})
