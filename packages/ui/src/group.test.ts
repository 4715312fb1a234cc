import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GONE_TILE_MS, gridShape, hasTile, mergeMembers, SpeakerTracker } from './group.ts'

describe('gridShape', () => {
  const desktop = { width: 1160, height: 560 }
  const phone = { width: 358, height: 600 }
  const columns = (count: number, box: { width: number; height: number }) => gridShape(count, box, 4 / 3, 10).columns

  it('lays people out wide on a desktop and tall on a phone', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 6, 9, 12, 16, 25].map((n) => columns(n, desktop)),
      [1, 2, 3, 2, 3, 3, 4, 6, 7],
    )
    assert.deepEqual(
      [1, 2, 3, 4, 6, 9, 16, 25].map((n) => columns(n, phone)),
      [1, 1, 1, 1, 2, 2, 3, 4],
    )
  })

  it('keeps every tile inside the box at its aspect ratio', () => {
    for (const box of [desktop, phone, { width: 800, height: 800 }])
      for (let count = 1; count <= 25; count++) {
        const { columns, tileWidth } = gridShape(count, box, 4 / 3, 10)
        const rows = Math.ceil(count / columns)
        assert.ok(columns * tileWidth + (columns - 1) * 10 <= box.width, `${count} fit across`)
        assert.ok((rows * (tileWidth * 3)) / 4 + (rows - 1) * 10 <= box.height + 1, `${count} fit down`)
        assert.ok(tileWidth > 40, `${count} tiles are not crumbs`)
      }
  })
})

describe('mergeMembers', () => {
  it('dates a change of status, keeps the date of a status that stays, and never shows one gone before I came', () => {
    const first = mergeMembers(
      [],
      [
        { accid: 'ann', status: 'joined' },
        { accid: 'ben', status: 'ringing' },
        { accid: 'cat', status: 'rejected' },
      ],
      1_000,
    )
    assert.deepEqual(
      first.map((m) => m.since),
      [1_000, 1_000, undefined],
    )
    const second = mergeMembers(
      first,
      [
        { accid: 'ann', status: 'joined' },
        { accid: 'ben', status: 'busy' },
        { accid: 'cat', status: 'rejected' },
      ],
      2_000,
    )
    assert.equal(second[0], first[0])
    assert.deepEqual(second[1], { accid: 'ben', status: 'busy', since: 2_000 })
    assert.ok(hasTile(second[1]!, 2_000 + GONE_TILE_MS - 1))
    assert.ok(!hasTile(second[1]!, 2_000 + GONE_TILE_MS))
    assert.ok(!hasTile(second[2]!, 2_000))
    assert.ok(hasTile(second[0]!, 1e12))
  })
})

describe('SpeakerTracker', () => {
  it('highlights the loudest above the threshold, and nobody in silence', () => {
    const speakers = new SpeakerTracker()
    assert.equal(speakers.hear('ann', 0.01), undefined)
    assert.equal(speakers.hear('ben', 0.3), 'ben')
    for (let i = 0; i < 6; i++) {
      speakers.hear('ben', 0)
      speakers.hear('ann', 0)
    }
    assert.equal(speakers.speaker, undefined)
  })

  it('does not flicker between two people talking about as loud', () => {
    const speakers = new SpeakerTracker()
    const seen = new Set<string | undefined>()
    for (let i = 0; i < 20; i++) {
      seen.add(speakers.hear('ann', i % 2 ? 0.2 : 0.26))
      seen.add(speakers.hear('ben', i % 2 ? 0.26 : 0.2))
    }
    assert.deepEqual([...seen], ['ann'])
  })

  it('moves to someone clearly louder, and forgets who left', () => {
    const speakers = new SpeakerTracker()
    speakers.hear('ann', 0.1)
    speakers.hear('ben', 0.5)
    speakers.hear('ben', 0.5)
    assert.equal(speakers.speaker, 'ben')
    assert.equal(speakers.forget('ben'), undefined)
    assert.equal(speakers.hear('ann', 0.1), 'ann')
  })
})
