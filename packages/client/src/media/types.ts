import type { CallType, DeviceRef, SfuServerMessage } from '@ringkit/protocol'

/**
 * What a call needs from a media layer. The SDK calls it at the call's turning points and routes
 * media negotiation to it; the WebRTC implementation carries audio and video.
 */
export interface MediaSession {
  /** Opens camera and microphone for the call type; rejects with a MEDIA_* code. */
  open(): Promise<void>
  /** Caller: the call rings; start negotiating with the callee's ringing devices. */
  start(): void
  /** Callee: the user accepted; negotiation may now reach the caller. */
  reveal(): void
  /** Negotiation data from a device in the call. */
  handleSignal(from: DeviceRef, data: unknown): Promise<void>
  setLocalView(element: unknown): void
  setRemoteView(accid: string, element: unknown): void
  enableAudio(enabled: boolean): Promise<void>
  enableVideo(enabled: boolean): Promise<void>
  switchCamera(): Promise<void>
  /** Moves the call to another camera or microphone. */
  useDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void>
  /** WebRTC statistics of the call's connection, when it has one. */
  getStats(): Promise<RTCStatsReport | undefined>
  /** The call's type changed: add or drop video. */
  setType(type: CallType): Promise<void>
  close(): void
}

/** A group call's media: a mesh of peer connections, or two connections with the media server. */
export interface GroupMediaSession extends MediaSession {
  /** This device is in the call now: offer to `peers` (mesh) or publish (media server). */
  join(peers: DeviceRef[]): void
  /** The member left the call. */
  memberLeft(accid: string): void
  /** The media server's offer for what this device receives. */
  handleSfu(message: SfuServerMessage): Promise<void>
}

/** Signaling only: the call's state is real, there is just no audio or video. */
export class NoMedia implements GroupMediaSession {
  join(): void {}
  memberLeft(): void {}
  async handleSfu(): Promise<void> {}
  async open(): Promise<void> {}
  start(): void {}
  reveal(): void {}
  async handleSignal(): Promise<void> {}
  setLocalView(): void {}
  setRemoteView(): void {}
  async enableAudio(): Promise<void> {}
  async enableVideo(): Promise<void> {}
  async switchCamera(): Promise<void> {}
  async useDevice(): Promise<void> {}
  async setType(): Promise<void> {}
  async getStats(): Promise<undefined> {}
  close(): void {}
}
