import {
  RingKitError,
  type Attachment,
  type CallType,
  type ClientMessage,
  type DeviceRef,
  type GroupMember,
  type JoinResult,
  type ReplyResults,
  type SfuServerMessage,
} from '@ringkit/protocol'
import type { GroupMediaSession, MediaSession } from './media/types.ts'
import type { CallRole, CallStatus, LocalEndReason } from './types.ts'

type Request = <T extends ClientMessage['type'], R = ReplyResults[T]>(
  type: T,
  body: Omit<Extract<ClientMessage, { type: T }>, 'type' | 'id'>,
  onResult?: (result: ReplyResults[T]) => R,
) => Promise<R>

export interface CallInit {
  callId: string
  type: CallType
  role: CallRole
  caller: string
  callees: string[]
  attachment?: Attachment | undefined
  request: Request
  media: MediaSession
  /** Group calls: their media, and where everyone stands. */
  group?: { media: GroupMediaSession; members: GroupMember[] }
}

/** One call as this device sees it. Made by `kit.call()` or handed over by the `invited` event. */
export class Call {
  readonly callId: string
  readonly role: CallRole
  readonly caller: string
  readonly callees: string[]
  readonly attachment: Attachment | undefined
  readonly isGroup: boolean
  #type: CallType
  #status: CallStatus
  #endReason: LocalEndReason | undefined
  readonly #request: Request
  readonly #media: MediaSession
  #pendingSwitch: { resolve: () => void; reject: (e: RingKitError) => void } | undefined
  readonly #group: GroupMediaSession | undefined
  #members: GroupMember[]
  #joined = false

  constructor(init: CallInit) {
    this.callId = init.callId
    this.role = init.role
    this.caller = init.caller
    this.callees = init.callees
    this.attachment = init.attachment
    this.#type = init.type
    this.#status = init.role === 'caller' ? 'calling' : 'ringing'
    this.#request = init.request
    this.#media = init.media
    this.isGroup = init.group !== undefined
    this.#group = init.group?.media
    this.#members = init.group?.members ?? []
  }

  /** Group calls: every member, the caller first, with where it stands now. */
  get members(): GroupMember[] {
    return this.#members
  }

  get type(): CallType {
    return this.#type
  }

  get status(): CallStatus {
    return this.#status
  }

  /** Why the call ended here, once it has. */
  get endReason(): LocalEndReason | undefined {
    return this.#endReason
  }

  /** The other party (1:1 calls). */
  get peer(): string {
    return this.role === 'caller' ? (this.callees[0] ?? '') : this.caller
  }

  /** Answers: opens camera and microphone (a ringing device usually has already), then connects. */
  async accept(): Promise<void> {
    await this.#media.open()
    if (this.#group) return this._joined(await this.#request('accept', { callId: this.callId }))
    const accepted = this.#request('accept', { callId: this.callId })
    // Sent right behind the accept, so the caller gets the prepared answer without another round trip.
    this.#media.reveal()
    await accepted
    this.#status = 'connected'
  }

  async reject(): Promise<void> {
    await this.#request('reject', { callId: this.callId })
  }

  /**
   * Stops ringing the other side. A call answered meanwhile (its answer still on its way here, or
   * missed while this device was away) is hung up instead: either way the user ends the call.
   */
  async cancel(): Promise<void> {
    try {
      await this.#request('cancel', { callId: this.callId })
    } catch (error) {
      if (!(error instanceof RingKitError) || error.code !== 'INVALID_STATE') throw error
      await this.#request('hangup', { callId: this.callId })
    }
  }

  /** Ends the call. In a group call only the caller's hangup ends it for everyone; anyone else's is `leave()`. */
  async hangup(): Promise<void> {
    await this.#request('hangup', { callId: this.callId })
  }

  /** Group calls: I go, the call goes on for the others. */
  async leave(): Promise<void> {
    await this.#request('leave', { callId: this.callId })
  }

  /** Group calls: rings more people into the call. Those in another call are reported with `userBusy`. */
  async invite(accids: string[]): Promise<void> {
    await this.#request('invite', { callId: this.callId, to: accids })
  }

  /** Ends the call because its media died; the record says `failed`. */
  async _fail(): Promise<void> {
    await this.#request('hangup', { callId: this.callId, reason: 'failed' })
  }

  setupLocalView(element: unknown): void {
    this.#media.setLocalView(element)
  }

  setupRemoteView(accid: string, element: unknown): void {
    this.#media.setRemoteView(accid, element)
  }

  /** Turns my microphone on or off; the other side gets `audioAvailable`. */
  async enableLocalAudio(enabled: boolean): Promise<void> {
    await this.#media.enableAudio(enabled)
    await this.#request('mediaState', { callId: this.callId, audio: enabled })
  }

  /** Turns my camera on or off; the other side gets `videoAvailable`. */
  async enableLocalVideo(enabled: boolean): Promise<void> {
    await this.#media.enableVideo(enabled)
    await this.#request('mediaState', { callId: this.callId, video: enabled })
  }

  /** WebRTC statistics of the call's media connection (undefined without media). */
  getStats(): Promise<RTCStatsReport | undefined> {
    return this.#media.getStats()
  }

  /** The next camera, without renegotiating; on an audio call it rejects with NOT_VIDEO_CALL. */
  async switchCamera(): Promise<void> {
    await this.#media.switchCamera()
  }

  /** @internal Moves this call to the device `kit.selectDevice` chose. */
  _useDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    return this.#media.useDevice(kind, deviceId)
  }

  /**
   * Video → audio happens at once. Audio → video asks the other side and resolves when it agrees;
   * it rejects with SWITCH_REJECTED when it declines.
   */
  async switchType(type: CallType): Promise<void> {
    // The answer is awaited from the moment the reply is read, so it cannot slip in before.
    const answer = await this.#request('switchType', { callId: this.callId, callType: type }, ({ pending }) =>
      pending ? new Promise<void>((resolve, reject) => (this.#pendingSwitch = { resolve, reject })) : undefined,
    )
    await answer
  }

  /** Answers the other side's request to switch to video. */
  async answerSwitchType(accept: boolean): Promise<void> {
    await this.#request('switchTypeReply', { callId: this.callId, accept })
  }

  // The methods below are driven by RingKit from server events.

  /** @internal */
  _connected(): void {
    this.#status = 'connected'
  }

  /** @internal Opens camera and microphone. */
  _open(): Promise<void> {
    return this.#media.open()
  }

  /** @internal This device is in the group call: connect media to those in it. */
  _joined(result: JoinResult): void {
    this.#status = 'connected'
    if (this.#joined) return
    this.#joined = true
    this.#group?.join(result.peers ?? [])
  }

  /** @internal */
  _members(members: GroupMember[]): void {
    this.#members = members
  }

  /** @internal */
  _memberLeft(accid: string): void {
    this.#group?.memberLeft(accid)
  }

  /** @internal */
  _sfu(message: SfuServerMessage): Promise<void> {
    return this.#group?.handleSfu(message) ?? Promise.resolve()
  }

  /** @internal */
  _typeChanged(type: CallType, state: 'invite' | 'accept' | 'reject' | 'switched', byMe: boolean): void {
    if (state === 'invite') return
    if (state === 'reject') {
      this.#pendingSwitch?.reject(new RingKitError('SWITCH_REJECTED'))
      this.#pendingSwitch = undefined
      return
    }
    this.#type = type
    this.#media.setType(type).catch(() => {})
    if (!byMe) {
      this.#pendingSwitch?.resolve()
      this.#pendingSwitch = undefined
    }
  }

  /** @internal */
  _signal(from: DeviceRef, data: unknown): Promise<void> {
    return this.#media.handleSignal(from, data)
  }

  /** @internal */
  _ended(reason: LocalEndReason): void {
    if (this.#status === 'ended') return
    this.#status = 'ended'
    this.#endReason = reason
    this.#media.close()
    this.#pendingSwitch?.reject(new RingKitError('INVALID_STATE', 'the call ended'))
    this.#pendingSwitch = undefined
  }
}
