import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CallType } from '@ringkit/protocol'
import { WebRtcMedia, type MediaEnvironment } from './WebRtcMedia.ts'

// Just enough of WebRTC to see which tracks a call opens and sends.
class FakeTrack {
  enabled = true
  stopped = false
  constructor(
    readonly kind: string,
    readonly label: string,
  ) {}
  stop(): void {
    this.stopped = true
  }
}

class FakeStream {
  readonly tracks: FakeTrack[]
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = [...tracks]
  }
  getTracks = () => [...this.tracks]
  getAudioTracks = () => this.tracks.filter((t) => t.kind === 'audio')
  getVideoTracks = () => this.tracks.filter((t) => t.kind === 'video')
  addTrack = (track: FakeTrack) => void this.tracks.push(track)
  removeTrack = (track: FakeTrack) => void this.tracks.splice(this.tracks.indexOf(track), 1)
}

interface FakeTransceiver {
  direction: string
  sender: { track: FakeTrack | null; replaceTrack(track: FakeTrack): Promise<void> }
  receiver: { track: { kind: string } }
}

class FakeConnection {
  readonly transceivers: FakeTransceiver[] = []
  onnegotiationneeded: (() => void) | null = null
  addTrack(track: FakeTrack) {
    const sender = {
      track: track as FakeTrack | null,
      replaceTrack: async (next: FakeTrack) => void (sender.track = next),
    }
    this.transceivers.push({ direction: 'sendrecv', sender, receiver: { track: { kind: track.kind } } })
    return sender
  }
  removeTrack(sender: FakeTransceiver['sender']) {
    sender.track = null
    const transceiver = this.transceivers.find((t) => t.sender === sender)
    if (transceiver) transceiver.direction = 'recvonly'
  }
  getTransceivers = () => this.transceivers
  getSenders = () => this.transceivers.map((t) => t.sender)
  close(): void {}
}

/** A 1:1 call's media on two synthetic cameras and a microphone, with what it opened. */
async function openCall(type: CallType) {
  const opened: MediaStreamConstraints[] = []
  let pc: FakeConnection | undefined
  let made = 0
  const env = {
    RTCPeerConnection: function () {
      pc = new FakeConnection()
      return pc
    },
    mediaDevices: {
      getUserMedia: async (constraints: MediaStreamConstraints) => {
        opened.push(constraints)
        made++
        return new FakeStream([
          ...(constraints.audio ? [new FakeTrack('audio', `mic ${made}`)] : []),
          ...(constraints.video ? [new FakeTrack('video', `camera ${made}`)] : []),
        ])
      },
      enumerateDevices: async () => [
        { kind: 'videoinput', deviceId: 'front' },
        { kind: 'videoinput', deviceId: 'back' },
      ],
    },
    iceServers: [],
  } as unknown as MediaEnvironment
  const media = new WebRtcMedia(env, {
    role: 'caller',
    type,
    me: 'me',
    signal: async () => {},
    emit: () => {},
    failed: () => {},
  })
  await media.open()
  media.start()
  await new Promise((resolve) => setImmediate(resolve))
  assert.ok(pc, 'the connection was made')
  const local = media.localStream as unknown as FakeStream
  const sent = (kind: string) => pc!.transceivers.filter((t) => t.receiver.track.kind === kind)
  return { media, pc, local, opened, sent }
}

describe('replacing a call track', () => {
  it('audio → video on a transceiver the other side offered makes it send', async () => {
    const { media, pc, sent, local } = await openCall('audio')
    // The caller's audio → video offer reached this side first: a video transceiver that only receives.
    const sender = { track: null as FakeTrack | null, replaceTrack: async (t: FakeTrack) => void (sender.track = t) }
    pc.transceivers.push({ direction: 'recvonly', sender, receiver: { track: { kind: 'video' } } })
    await media.setType('video')
    assert.equal(sent('video').length, 1, 'no second video transceiver')
    assert.equal(sender.track, local.getVideoTracks()[0])
    assert.equal(sent('video')[0]?.direction, 'sendrecv')
    media.close()
  })

  it('switchCamera on an audio call is refused with NOT_VIDEO_CALL: no camera opens, no video is sent', async () => {
    const { media, opened, sent, local } = await openCall('audio')
    await assert.rejects(media.switchCamera(), { code: 'NOT_VIDEO_CALL' })
    assert.deepEqual(
      opened.map((c) => Boolean(c.video)),
      [false],
      'only the microphone was ever opened',
    )
    assert.equal(sent('video').length, 0, 'no video sender was added')
    assert.equal(local.getVideoTracks().length, 0)
    await media.useDevice('camera', 'back')
    assert.equal(sent('video').length, 0, 'a camera picked during an audio call waits for video')
    media.close()
  })

  it('switchCamera on a video call swaps the sent track on the same sender and stops the old camera', async () => {
    const { media, sent, local } = await openCall('video')
    const [first] = local.getVideoTracks()
    await media.switchCamera()
    const [video] = sent('video')
    assert.equal(sent('video').length, 1)
    assert.notEqual(video?.sender.track, first)
    assert.equal(video?.sender.track, local.getVideoTracks()[0])
    assert.equal(first?.stopped, true)
    media.close()
  })

  it('video → audio → video sends the camera again on the sender it had, and a new microphone keeps mute', async () => {
    const { media, sent, local } = await openCall('video')
    await media.setType('audio')
    assert.equal(local.getVideoTracks().length, 0)
    assert.equal(sent('video')[0]?.sender.track, null, 'the video sender stays, sending nothing')
    await assert.rejects(media.switchCamera(), { code: 'NOT_VIDEO_CALL' })
    await media.setType('video')
    const [video] = sent('video')
    assert.equal(sent('video').length, 1)
    assert.equal(video?.sender.track, local.getVideoTracks()[0])
    assert.equal(video?.direction, 'sendrecv', 'the sender sends again')

    await media.enableAudio(false)
    await media.useDevice('microphone', 'other-mic')
    const [audio] = sent('audio')
    assert.equal(audio?.sender.track, local.getAudioTracks()[0])
    assert.equal(local.getAudioTracks()[0]?.enabled, false, 'still muted')
    media.close()
  })
})
