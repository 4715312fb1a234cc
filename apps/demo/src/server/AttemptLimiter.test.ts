import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AttemptLimiter } from './AttemptLimiter.ts'

describe('AttemptLimiter', () => {
  it('allows the limit per window and key, then says how long to wait', () => {
    const limiter = new AttemptLimiter(2, 60_000)
    assert.equal(limiter.take('a', 0), 0)
    assert.equal(limiter.take('a', 1_000), 0)
    assert.equal(limiter.take('a', 15_000), 45)
    assert.equal(limiter.take('b', 15_000), 0, 'another key has its own budget')
    assert.equal(limiter.take('a', 59_999), 1)
    assert.equal(limiter.take('a', 60_000), 0, 'a new window starts afresh')
  })

  it('holds at most maxKeys keys, dropping expired windows first and then the oldest', () => {
    const limiter = new AttemptLimiter(1, 60_000, 3)
    limiter.take('old', 0)
    limiter.take('x', 30_000)
    limiter.take('y', 30_000)
    assert.equal(limiter.size, 3)
    assert.equal(limiter.take('z', 61_000), 0)
    assert.equal(limiter.size, 3, 'the expired window made room')
    assert.equal(limiter.take('x', 61_000), 29, 'live windows were kept')
    for (let i = 0; i < 1000; i++) limiter.take(`spray${i}`, 62_000)
    assert.equal(limiter.size, 3, 'a flood of new keys stays within the bound')
    assert.equal(limiter.take('spray999', 62_000), 60, 'the newest windows are the ones kept')
  })

  it('a renewed window moves to the back: an active key outlives the quiet ones', () => {
    const limiter = new AttemptLimiter(1, 60_000, 2)
    limiter.take('busy', 0)
    limiter.take('quiet', 10_000)
    limiter.take('busy', 60_000)
    limiter.take('new', 65_000)
    assert.equal(limiter.take('busy', 66_000), 54, 'busy kept its renewed window')
    assert.equal(limiter.take('quiet', 66_000), 0, 'quiet was dropped to make room')
  })
})
