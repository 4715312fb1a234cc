import { randomFillSync } from 'node:crypto'
import type Wrtc from '@roamhq/wrtc'

export interface SyntheticOptions {
  width?: number
  height?: number
  fps?: number
  /** How many cameras `enumerateDevices` reports, for switchCamera. */
  cameras?: number
  /**
   * The share of the picture (0 to 1, in rows) filled with fresh noise every frame. 0 gives a
   * picture that compresses to almost nothing; about 0.25 costs a VP8 encoder what a real camera at
   * this size does (a few hundred kbps, up to what the receiver allows).
   */
  noise?: number
}

/**
 * Camera and microphone for Node, from @roamhq/wrtc's sources: a moving test pattern and a tone.
 * Pass the `@roamhq/wrtc` module; plug the result into `new RingKit({ mediaDevices })`. Made for
 * headless bots and tests: wrtc's own getUserMedia yields tracks that carry no frames.
 */
export function syntheticMediaDevices(
  wrtc: typeof Wrtc,
  options: SyntheticOptions = {},
): Pick<MediaDevices, 'getUserMedia' | 'enumerateDevices'> {
  const { width = 320, height = 240, fps = 15, cameras = 2, noise = 0 } = options
  return {
    async getUserMedia(constraints: MediaStreamConstraints = {}) {
      const tracks: MediaStreamTrack[] = []
      if (constraints.video) tracks.push(videoTrack(wrtc, width, height, fps, noise))
      if (constraints.audio) tracks.push(audioTrack(wrtc))
      return new wrtc.MediaStream(tracks as never) as unknown as MediaStream
    },
    async enumerateDevices() {
      const devices = [{ deviceId: 'synthetic-mic', kind: 'audioinput', label: 'Synthetic tone', groupId: 'synthetic' }]
      for (let i = 0; i < cameras; i++) {
        devices.push({
          deviceId: `synthetic-camera-${i}`,
          kind: 'videoinput',
          label: `Synthetic camera ${i}`,
          groupId: 'synthetic',
        })
      }
      return devices.map((d) => ({ ...d, toJSON: () => d })) as MediaDeviceInfo[]
    },
  }
}

function videoTrack(wrtc: typeof Wrtc, width: number, height: number, fps: number, noise: number): MediaStreamTrack {
  const source = new wrtc.nonstandard.RTCVideoSource()
  const track = source.createTrack()
  const frame = new Uint8Array((width * height * 3) / 2)
  const chroma = width * height
  frame.fill(128, chroma)
  let tick = 0
  const timer = setInterval(() => {
    if (track.readyState === 'ended') return clearInterval(timer)
    // A bar sweeping across a grey field: every frame differs, so the encoder sends real data.
    frame.fill(64, 0, chroma)
    const x = (tick++ * 4) % width
    for (let y = 0; y < height; y++) frame.fill(235, y * width + x, y * width + Math.min(width, x + 16))
    if (noise > 0) randomFillSync(frame, 0, Math.round(height * Math.min(1, noise)) * width)
    source.onFrame({ width, height, data: frame })
  }, 1000 / fps)
  return track as unknown as MediaStreamTrack
}

function audioTrack(wrtc: typeof Wrtc): MediaStreamTrack {
  const source = new wrtc.nonstandard.RTCAudioSource()
  const track = source.createTrack()
  const sampleRate = 48_000
  const samples = new Int16Array(sampleRate / 100)
  let phase = 0
  const timer = setInterval(() => {
    if (track.readyState === 'ended') return clearInterval(timer)
    for (let i = 0; i < samples.length; i++) samples[i] = Math.sin((phase++ * 2 * Math.PI * 440) / sampleRate) * 8000
    source.onData({ samples, sampleRate, bitsPerSample: 16, channelCount: 1, numberOfFrames: samples.length })
  }, 10)
  return track as unknown as MediaStreamTrack
}
