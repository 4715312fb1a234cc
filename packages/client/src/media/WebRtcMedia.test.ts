import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { asMediaError, mediaSignalSchema, networkQuality, splitCandidates } from './WebRtcMedia.ts'

describe('media errors', () => {
  it('map the DOMException names getUserMedia rejects with to codes users can act on', () => {
    const named = (name: string) => Object.assign(new Error(name), { name })
    assert.equal(asMediaError(named('NotAllowedError')).code, 'MEDIA_PERMISSION_DENIED')
    assert.equal(asMediaError(named('NotFoundError')).code, 'MEDIA_DEVICE_NOT_FOUND')
    assert.equal(asMediaError(named('NotReadableError')).code, 'MEDIA_DEVICE_IN_USE')
    assert.equal(asMediaError(named('TypeError')).code, 'MEDIA_FAILED')
    const cause = named('NotReadableError')
    assert.equal(asMediaError(cause).cause, cause)
  })
})

describe('network quality', () => {
  it('is 1 (excellent) to 5 (very bad) from round-trip time and loss, 0 when unknown', () => {
    assert.equal(networkQuality(undefined, 0), 0)
    assert.equal(networkQuality(0.02, 0), 1)
    assert.equal(networkQuality(0.15, 0), 2)
    assert.equal(networkQuality(0.02, 0.07), 3)
    assert.equal(networkQuality(0.5, 0), 4)
    assert.equal(networkQuality(0.02, 0.3), 5)
  })
})

describe('media signals from peers', () => {
  it('are validated: a peer cannot hand the media layer arbitrary objects', () => {
    assert.ok(mediaSignalSchema.safeParse({ kind: 'description', description: { type: 'offer', sdp: 'v=0' } }).success)
    assert.ok(
      mediaSignalSchema.safeParse({ kind: 'candidate', candidate: { candidate: 'candidate:1', sdpMid: '0' } }).success,
    )
    assert.ok(!mediaSignalSchema.safeParse({ kind: 'description', description: { type: 'bogus' } }).success)
    assert.ok(!mediaSignalSchema.safeParse({ kind: 'candidate', candidate: { candidate: 5 } }).success)
    assert.ok(!mediaSignalSchema.safeParse('offer').success)
  })
})

describe('splitCandidates', () => {
  it('takes inline candidates out of an SDP with the mid and index of their m-section', () => {
    const sdp = [
      'v=0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:0',
      'a=candidate:1 1 udp 1 127.0.0.1 5000 typ host',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:1',
      'a=candidate:2 1 udp 1 127.0.0.1 5002 typ host',
      'a=end-of-candidates',
      '',
    ].join('\r\n')
    const { sdp: bare, candidates } = splitCandidates(sdp)
    assert.ok(!bare.includes('a=candidate') && !bare.includes('end-of-candidates'))
    assert.ok(bare.includes('a=mid:1'))
    assert.deepEqual(candidates, [
      { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 },
      { candidate: 'candidate:2 1 udp 1 127.0.0.1 5002 typ host', sdpMid: '1', sdpMLineIndex: 1 },
    ])
  })
})
