import type { CallType, GroupMember } from '@ringkit/client'

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

/** Someone the app offers to invite into a group call; without `name`, `resolveUser` names them. */
export interface InviteCandidate extends Partial<UserInfo> {
  accid: string
}

/** The people the invite sheet of a group call lists, as the app chooses them. */
export type InviteCandidates = () => Promise<InviteCandidate[]>

/** Where a group call member stands: `ringing`, `joined`, `left`, or how its ringing ended. */
export type GroupMemberStatus = GroupMember['status']

/** A group call member, with when its status last changed (a member who went keeps its tile a moment). */
export interface MemberView {
  accid: string
  status: GroupMemberStatus
  /** When the status last changed; undefined for a member already gone when I first saw the call. */
  since: number | undefined
}

/** What a member's media does now, from the call's events. */
export interface MemberMedia {
  /** Its media arrived (`userEnter`) and has not left. */
  entered: boolean
  micOff: boolean
  cameraOff: boolean
}

export interface GroupState {
  /** Everyone, the caller first, me included. */
  members: MemberView[]
  media: Record<string, MemberMedia>
  /** The member talking loudest now, if anyone is. */
  speaker: string | undefined
  /** The invite sheet, when open: the app's candidates (undefined while they load) and those ticked. */
  invite: { candidates: InviteCandidate[] | undefined; chosen: string[]; sending: boolean } | undefined
}

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
  /** Group calls only. */
  group: GroupState | undefined
  /** Names and pictures resolved so far, by accid. */
  people: Record<string, UserInfo>
  devices: MediaDeviceInfo[]
  selected: { camera?: string; microphone?: string; speaker?: string }
  soundBlocked: boolean
  toast: string | undefined
  notice: { text: string; kind: 'error' | 'info' } | undefined
}
