import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CallRecord } from '@ringkit/client'
import {
  describeRecord,
  detectLocale,
  formatDuration,
  LOCALES,
  MESSAGE_KEYS,
  translator,
  type MessageKey,
} from './i18n.ts'

function record(status: CallRecord['status'], endReason: CallRecord['endReason'], durationSeconds = 0): CallRecord {
  return {
    callId: 'c1',
    type: 'video',
    caller: 'ann',
    callees: ['ben'],
    isGroup: false,
    status,
    endReason,
    startedAt: 1,
    endedAt: 2,
    durationSeconds,
    members: [],
  } as CallRecord
}

describe('record wording', () => {
  const en = translator('en')
  const cases: [CallRecord, caller: string, callee: string, calleeMissed: boolean][] = [
    [record(1, 'hangup', 192), 'Call ended 03:12', 'Call ended 03:12', false],
    [record(1, 'failed', 42), 'Call dropped 00:42', 'Call dropped 00:42', false],
    [record(2, 'canceled'), 'Canceled', 'Missed call', true],
    [record(3, 'rejected'), 'Declined', 'You declined', false],
    [record(4, 'timeout'), 'No answer', 'Missed call', true],
    [record(5, 'busy'), 'Busy', 'Missed call', true],
  ]
  for (const [r, caller, callee, missed] of cases) {
    it(`status ${r.status} (${r.endReason}) reads "${caller}" for the caller and "${callee}" for the callee`, () => {
      assert.deepEqual(describeRecord(r, 'ann', en), { text: caller, missed: false, outgoing: true })
      assert.deepEqual(describeRecord(r, 'ben', en), { text: callee, missed, outgoing: false })
    })
  }

  it('in a group call each callee reads what it did itself, whatever became of the call', () => {
    const group: CallRecord = {
      ...record(1, 'hangup', 75),
      isGroup: true,
      callees: ['ben', 'cat', 'dan'],
      members: [
        { accid: 'ann', status: 'joined' },
        { accid: 'ben', status: 'joined' },
        { accid: 'cat', status: 'rejected' },
        { accid: 'dan', status: 'missed' },
      ],
    }
    assert.deepEqual(describeRecord(group, 'ann', en), { text: 'Call ended 01:15', missed: false, outgoing: true })
    assert.deepEqual(describeRecord(group, 'ben', en), { text: 'Call ended 01:15', missed: false, outgoing: false })
    assert.deepEqual(describeRecord(group, 'cat', en), { text: 'You declined', missed: false, outgoing: false })
    assert.deepEqual(describeRecord(group, 'dan', en), { text: 'Missed call', missed: true, outgoing: false })
  })

  it('reads in Chinese from the same record', () => {
    const zh = translator('zh-CN')
    assert.equal(describeRecord(record(4, 'timeout'), 'ben', zh).text, '未接来电')
    assert.equal(describeRecord(record(1, 'hangup', 65), 'ann', zh).text, '通话时长 01:05')
  })
})

describe('catalog', () => {
  // Placeholders left unfilled show as {name}: both languages must use the same ones.
  const raw = (locale: (typeof LOCALES)[number], key: MessageKey) =>
    translator(locale)(key, new Proxy({}, { get: (_, name) => `{${String(name)}}` }))
  const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

  it('every message exists in every language, with the same placeholders', () => {
    assert.ok(MESSAGE_KEYS.length > 40)
    for (const key of MESSAGE_KEYS) {
      for (const locale of LOCALES) assert.ok(raw(locale, key).trim().length > 0, `${locale}.${key} is empty`)
      assert.deepEqual(placeholders(raw('zh-CN', key)), placeholders(raw('en', key)), key)
    }
  })

  it('picks the browser’s language, English when it has neither', () => {
    assert.equal(detectLocale(['zh-TW', 'en']), 'zh-CN')
    assert.equal(detectLocale(['fr-FR', 'en-GB']), 'en')
    assert.equal(detectLocale(['fr-FR']), 'en')
  })

  it('formats durations as mm:ss, with hours when there are some', () => {
    assert.equal(formatDuration(0), '00:00')
    assert.equal(formatDuration(192.9), '03:12')
    assert.equal(formatDuration(3725), '1:02:05')
  })
})
