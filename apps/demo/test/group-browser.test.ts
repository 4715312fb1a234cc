import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chromiumPath } from '../../../packages/client/test/browser.ts'
import {
  accidOf,
  demoInChromium,
  grid,
  groupCallFromContacts,
  openHistory,
  othersPlay,
  part,
  shownTiles,
  toast,
  state,
  until,
  type DemoUserPage,
} from './flows.ts'

const demo = demoInChromium()

interface Member extends DemoUserPage {
  accid: string
}

async function member(username: string, displayName: string): Promise<Member> {
  const user = await demo.signUp(username, displayName)
  return { ...user, accid: await accidOf(user.page) }
}

describe('group calls in three Chromium pages (mesh, no media server)', { skip: skipReason() }, () => {
  it('A calls B and C, both answer into a grid of live video; C leaves and is invited back; A ends it for all', async () => {
    const a = await member('ann', 'Ann Walker')
    const b = await member('ben', 'Ben Ortiz')
    const c = await member('cat', 'Cat Nguyen')

    await groupCallFromContacts(a.page, [b, c], 'video')
    await state(a.page, 'outgoing')
    await grid(a.page, 'ringing', b.accid, c.accid)
    assert.deepEqual(await part(a.page, 'tile-state').allInnerTexts(), ['Calling', 'Calling'])
    for (const { page } of [b, c]) {
      await state(page, 'incoming')
      await part(page, 'name').filter({ hasText: a.displayName }).waitFor()
      assert.equal(await part(page, 'others').innerText(), 'and 1 other')
    }

    // B answers first: A's call connects, C still rings in the grid.
    await part(b.page, 'accept').click()
    await state(a.page, 'connected')
    await part(a.page, 'tile').filter({ hasText: c.displayName }).filter({ hasText: 'Ringing' }).waitFor()
    await part(c.page, 'accept').click()
    for (const { page } of [a, b, c]) await grid(page, 'joined', a.accid, b.accid, c.accid)
    for (const me of [a, b, c]) {
      const others = [a, b, c].filter((m) => m !== me)
      assert.deepEqual(await othersPlay(me.page, 2), others.map((m) => m.accid).sort(), `${me.username} sees both`)
      const names = await part(me.page, 'tile-name').allInnerTexts()
      assert.deepEqual(names.sort(), ['You', ...others.map((m) => m.displayName)].sort())
    }
    // The caller ends the call for everyone; the others only leave it.
    assert.equal(await part(a.page, 'hangup').getAttribute('aria-label'), 'End call')
    assert.equal(await part(c.page, 'hangup').getAttribute('aria-label'), 'Leave')

    await part(c.page, 'hangup').click()
    await state(c.page, 'idle')
    assert.equal(await toast(c.page), 'You left the call')
    // C's tile says "Left" for a few seconds, then goes; the call goes on for A and B.
    const left = await until(
      () => shownTiles(a.page),
      (shown) => !shown.some((t) => t.accid === c.accid && t.status === 'joined'),
      'C no longer joined',
    )
    if (left.length === 3) assert.equal(await part(a.page, 'tile-state').innerText(), 'Left')
    for (const { page } of [a, b]) await grid(page, 'joined', a.accid, b.accid)

    await part(a.page, 'invite').click()
    await part(a.page, 'invitee').filter({ hasText: c.displayName }).click()
    await part(a.page, 'invite-send').click()
    await part(a.page, 'invite-sheet').waitFor({ state: 'detached' })
    await state(c.page, 'incoming')
    await part(c.page, 'accept').click()
    for (const { page } of [a, b, c]) await grid(page, 'joined', a.accid, b.accid, c.accid)
    assert.deepEqual(await othersPlay(c.page, 2), [a.accid, b.accid].sort())
    assert.deepEqual(await othersPlay(b.page, 2), [a.accid, c.accid].sort())

    await part(a.page, 'hangup').click()
    for (const { page } of [a, b, c]) await state(page, 'idle')
    for (const { page } of [a, b, c]) assert.match(await toast(page), /^Call ended 00:\d\d$/)

    for (const me of [a, b, c]) {
      const rows = await openHistory(me.page)
      await rows.first().waitFor()
      const others = [a, b, c].filter((m) => m !== me)
      assert.deepEqual(await rows.first().evaluate((row) => [...row.classList]), ['row', 'group'])
      const text = await rows.first().innerText()
      for (const other of others) assert.match(text, new RegExp(other.displayName))
      assert.match(text, /Call ended 00:\d\d/)
      assert.equal(await rows.first().locator('.kind').getAttribute('title'), 'Group call')
    }
  })
})

function skipReason(): string | false {
  return typeof chromiumPath === 'string' ? false : chromiumPath.skip
}
