import { RingKitError, type CallType } from '@ringkit/protocol'
import { chosen, nextCamera, openDevices, type MediaEnvironment } from './WebRtcMedia.ts'

export interface LocalTracksOptions {
  /** The call's type now: a camera is opened only on a video call. */
  type: () => CallType
  /** The call's local stream, or undefined while it is not open or once the call closed. */
  stream: () => Promise<MediaStream | undefined> | MediaStream | undefined
  /** Sends the new track on every connection in place of the one of its kind. */
  send: (track: MediaStreamTrack, stream: MediaStream) => Promise<void>
  /** The local stream changed: show it again. */
  changed?: () => void
}

/**
 * The one way a call's camera or microphone track is replaced, for every kind of media: the next
 * camera (`switchCamera`), the camera that audio → video turns on, a device the user picked. The
 * new track takes its kind's place in the local stream (the old one stopped, its enabled flag
 * kept), then on every connection. A camera is opened on a video call only.
 */
export class LocalTracks {
  readonly #env: MediaEnvironment
  readonly #o: LocalTracksOptions
  #cameraIndex = 0

  constructor(env: MediaEnvironment, options: LocalTracksOptions) {
    this.#env = env
    this.#o = options
  }

  /** The next camera; nothing with fewer than two. An audio call has no camera to switch. */
  async switchCamera(): Promise<void> {
    this.#requireVideo()
    const next = await nextCamera(this.#env, this.#cameraIndex)
    if (!next) return
    this.#cameraIndex = next.index
    await this.#replace('video', { deviceId: { exact: next.deviceId } })
  }

  /** The call became a video call: the chosen camera joins it. */
  startCamera(): Promise<void> {
    return this.#replace('video', chosen(this.#env, 'camera'))
  }

  /** The user picked a device. A camera picked during an audio call is the one audio → video opens. */
  async useDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    if (kind === 'camera' && this.#o.type() !== 'video') return
    await this.#replace(kind === 'camera' ? 'video' : 'audio', { deviceId: { exact: deviceId } })
  }

  #requireVideo(): void {
    if (this.#o.type() !== 'video') {
      throw new RingKitError('NOT_VIDEO_CALL', 'switchCamera() needs a video call: an audio call sends no camera')
    }
  }

  async #replace(kind: 'audio' | 'video', constraint: MediaTrackConstraints | true): Promise<void> {
    if (kind === 'video') this.#requireVideo()
    if (!(await this.#o.stream())) return
    const [track] = (await openDevices(this.#env, { [kind]: constraint })).getTracks().filter((t) => t.kind === kind)
    if (!track) return
    // The call may have closed, or turned to audio, while the device opened.
    const local = await this.#o.stream()
    if (!local || (kind === 'video' && this.#o.type() !== 'video')) return track.stop()
    const old = local.getTracks().find((t) => t.kind === kind)
    track.enabled = old?.enabled ?? true
    if (old) {
      old.stop()
      local.removeTrack(old)
    }
    local.addTrack(track)
    await this.#o.send(track, local)
    this.#o.changed?.()
  }
}

/**
 * Sends `track` on `pc` in place of the one of its kind, without renegotiating: the kind's sender
 * takes it. A transceiver that only received (made by the other side's offer) starts sending,
 * and a kind the connection never carried is added; both renegotiate.
 */
export async function sendTrack(pc: RTCPeerConnection, track: MediaStreamTrack, stream: MediaStream): Promise<void> {
  const ofKind = pc.getTransceivers().filter((t) => t.receiver.track.kind === track.kind)
  const transceiver = ofKind.find((t) => t.sender.track !== null) ?? ofKind[0]
  if (!transceiver) {
    pc.addTrack(track, stream)
    return
  }
  await transceiver.sender.replaceTrack(track)
  if (transceiver.direction === 'recvonly') transceiver.direction = 'sendrecv'
  else if (transceiver.direction === 'inactive') transceiver.direction = 'sendonly'
}
