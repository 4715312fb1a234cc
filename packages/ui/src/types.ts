import type { CallType } from '@ringkit/client'

/** Who is on the other end, as the app knows them. */
export interface UserInfo {
  name: string
  /** An image URL; initials on a color are drawn without one. */
  avatar?: string | undefined
  /** The color behind the initials (and the panel's glow). */
  color?: string | undefined
}

/** Resolves an accid to the name and picture the app shows for it. */
export type ResolveUser = (accid: string) => UserInfo | Promise<UserInfo>

/** What the element shows, reflected as its `state` attribute for styling. */
export type CallView = 'idle' | 'incoming' | 'outgoing' | 'connected'

export interface UiState {
  view: CallView
  type: CallType
  peer: { accid: string } & UserInfo
  connectedAt: number | undefined
  minimized: boolean
  micOff: boolean
  cameraOff: boolean
  peerMicOff: boolean
  peerCameraOff: boolean
  peerSpeaking: boolean
  /** The other side asks to switch to video. */
  switchAsked: boolean
  /** I asked the other side to switch to video. */
  switchPending: boolean
  devicesOpen: boolean
  devices: MediaDeviceInfo[]
  selected: { camera?: string; microphone?: string; speaker?: string }
  soundBlocked: boolean
  toast: string | undefined
  notice: { text: string; kind: 'error' | 'info' } | undefined
}
