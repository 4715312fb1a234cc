import type { CallType, DeviceRef } from '@ringkit/protocol'

/**
 * What a call needs from a media layer. The SDK calls it at the call's turning points and routes
 * media negotiation to it; a WebRTC implementation carries audio and video.
 */
export interface MediaSession {
  /** The call connected: start sending and receiving. */
  connect(peer: DeviceRef): Promise<void>
  /** Negotiation data from a device in the call. */
  handleSignal(from: DeviceRef, data: unknown): Promise<void>
  setLocalView(element: unknown): void
  setRemoteView(accid: string, element: unknown): void
  enableAudio(enabled: boolean): Promise<void>
  enableVideo(enabled: boolean): Promise<void>
  switchCamera(): Promise<void>
  setType(type: CallType): Promise<void>
  close(): void
}

export interface MediaContext {
  type: CallType
  /** Sends negotiation data to the other device(s) of the call. */
  signal(data: unknown, to?: DeviceRef): Promise<void>
}

/** Signaling only: the call's state is real, there is just no audio or video. */
export class NoMedia implements MediaSession {
  async connect(): Promise<void> {}
  async handleSignal(): Promise<void> {}
  setLocalView(): void {}
  setRemoteView(): void {}
  async enableAudio(): Promise<void> {}
  async enableVideo(): Promise<void> {}
  async switchCamera(): Promise<void> {}
  async setType(): Promise<void> {}
  close(): void {}
}
