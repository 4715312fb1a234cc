import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AttemptLimiter } from './AttemptLimiter.ts'

describe('AttemptLimiter', () => {
  it('allows the limit per window and key, then says how long to wait', () => {
    const limiter = new AttemptLimiter(2, 60_000)
    assert.equal(limiter.take('a', 0), 0)
    assert.equal(limiter.take('a', 1_000), 0)
    assert.equal(limiter.take('a', 15_000), 45)
    assert.equal(limiter.take('b', 15_000), 0, 'another IP has its own budget')
    assert.equal(limiter.take('a', 59_999), 1)
    assert.equal(limiter.take('a', 60_000), 0, 'a new window starts afresh')
  })
})
