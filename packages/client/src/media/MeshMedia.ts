import { RingKitError, type CallType, type DeviceRef, type SfuServerMessage } from '@ringkit/protocol'
import type { GroupMediaSession } from './types.ts'
import { LocalTracks } from './LocalTracks.ts'
import {
  openCallDevices,
  showLocal,
  stopAll,
  WebRtcMedia,
  type MediaCallContext,
  type MediaEnvironment,
  type MediaSignal,
} from './WebRtcMedia.ts'

/**
 * A group call without a media server: one peer connection to every other device in the call,
 * all sending the same camera and microphone. Whoever joins offers to those already in; the
 * others answer. Fine for up to 4 people, as each uploads its media once per other member.
 */
export class MeshMedia implements GroupMediaSession {
  readonly #env: MediaEnvironment
  readonly #ctx: MediaCallContext
  readonly #peers = new Map<string, { device: DeviceRef; media: WebRtcMedia }>()
  readonly #remoteViews = new Map<string, unknown>()
  readonly #tracks: LocalTracks
  #type: CallType
  #local: Promise<MediaStream> | undefined
  #closed = false

  constructor(env: MediaEnvironment, ctx: MediaCallContext) {
    this.#env = env
    this.#ctx = ctx
    this.#type = ctx.type
    this.#tracks = new LocalTracks(env, {
      type: () => this.#type,
      stream: () => (this.#closed ? undefined : this.#stream()),
      // Every connection sends the shared stream's tracks: each one swaps its sender's.
      send: async (track) => {
        await Promise.all([...this.#peers.values()].map(async ({ media }) => media.replaceSentTrack(track)))
      },
    })
  }

  async open(): Promise<void> {
    await this.#stream()
  }

  join(peers: DeviceRef[]): void {
    for (const device of peers) this.#peer(device, 'caller').start()
  }

  async handleSignal(from: DeviceRef, data: unknown): Promise<void> {
    if (this.#closed) return
    await this.#peer(from, 'callee').handleSignal(from, data)
  }

  memberLeft(accid: string): void {
    for (const [key, peer] of this.#peers) {
      if (peer.device.accid !== accid) continue
      this.#peers.delete(key)
      peer.media.close()
    }
  }

  async handleSfu(_message: SfuServerMessage): Promise<void> {
    throw new RingKitError('INVALID_STATE', 'a mesh call has no media server')
  }

  start(): void {}
  reveal(): void {}

  /** Shows my camera from the start, before anyone is connected: a caller sees itself while it rings. */
  setLocalView(element: unknown): void {
    void this.#stream()
      .then((stream) => showLocal(element, stream))
      .catch(() => {
        // Opening the camera failed: open() or join() reports it.
      })
  }

  setRemoteView(accid: string, element: unknown): void {
    this.#remoteViews.set(accid, element)
    for (const { device, media } of this.#peers.values())
      if (device.accid === accid) media.setRemoteView(accid, element)
  }

  async enableAudio(enabled: boolean): Promise<void> {
    for (const track of (await this.#stream()).getAudioTracks()) track.enabled = enabled
  }

  async enableVideo(enabled: boolean): Promise<void> {
    for (const track of (await this.#stream()).getVideoTracks()) track.enabled = enabled
  }

  switchCamera(): Promise<void> {
    return this.#tracks.switchCamera()
  }

  /** Replaces the shared track and what every connection sends, without renegotiating. */
  useDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    return this.#tracks.useDevice(kind, deviceId)
  }

  /** Every connection's statistics in one report, each id prefixed with the member's accid and a slash. */
  async getStats(): Promise<RTCStatsReport | undefined> {
    const merged = new Map<string, unknown>()
    for (const { device, media } of this.#peers.values()) {
      ;(await media.getStats())?.forEach((report: { id: string }) => {
        const id = `${device.accid}/${report.id}`
        merged.set(id, { ...report, id })
      })
    }
    return merged as unknown as RTCStatsReport
  }

  async setType(_type: CallType): Promise<void> {
    throw new RingKitError('INVALID_STATE', 'a group call keeps the type it started with')
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const { media } of this.#peers.values()) media.close()
    this.#peers.clear()
    void this.#local?.then(stopAll).catch(() => {})
  }

  #stream(): Promise<MediaStream> {
    this.#local ??= openCallDevices(this.#env, this.#type)
    return this.#local
  }

  /** The connection to `device`, made on first use: the offering side when this device joined later. */
  #peer(device: DeviceRef, role: 'caller' | 'callee'): WebRtcMedia {
    const key = `${device.accid}\u0000${device.deviceId}`
    const known = this.#peers.get(key)
    if (known) return known.media
    const media = new WebRtcMedia(this.#env, {
      ...this.#ctx,
      role,
      local: this.#stream(),
      signal: (data: MediaSignal) => this.#ctx.signal(data, device),
      // Every connection measures my own microphone: one of them is enough to tell.
      emit: (event) => {
        const mine = event.name === 'volume' && event.accid === this.#ctx.me
        if (!mine || this.#peers.values().next().value?.media === media) this.#ctx.emit(event)
      },
    })
    // Nothing is held back: this device is in the call already.
    media.reveal()
    this.#peers.set(key, { device, media })
    const view = this.#remoteViews.get(device.accid)
    if (view) media.setRemoteView(device.accid, view)
    return media
  }
}
