import { LitElement, html, nothing, type PropertyValues } from 'lit'
import {
  RingKitError,
  takeCallFromNotification,
  type Call,
  type CallRecord,
  type CallType,
  type RingKit,
} from '@ringkit/client'
import { GroupCall } from './GroupCall.ts'
import { groupStyles } from './group-styles.ts'
import { groupIncomingPanel, groupMini, groupPanel } from './group-templates.ts'
import {
  describeRecord,
  detectLocale,
  errorMessage,
  translator,
  type Locale,
  type MessageKey,
  type Translate,
} from './i18n.ts'
import { colorFor } from './people.ts'
import { Tones } from './sounds.ts'
import { callStyles } from './styles.ts'
import {
  audioPanel,
  incomingPanel,
  miniWindow,
  outgoingPanel,
  overlays,
  videoPanel,
  type Actions,
  type ViewContext,
} from './templates.ts'
import type { CallView, GroupMemberStatus, InviteCandidates, ResolveUser, UiState, UserInfo } from './types.ts'
import { setSink, videoElement } from './video.ts'

const TOAST_MS = 3_500
const NOTICE_MS = 6_000

const IDLE: Omit<UiState, 'devices' | 'selected' | 'notice' | 'toast' | 'soundBlocked' | 'people'> = {
  view: 'idle',
  type: 'audio',
  peer: { accid: '', name: '' },
  connectedAt: undefined,
  minimized: false,
  micOff: false,
  cameraOff: false,
  peerMicOff: false,
  peerCameraOff: false,
  peerSpeaking: false,
  switchAsked: false,
  switchPending: false,
  devicesOpen: false,
  group: undefined,
}

/** How long a page opened from a notification waits for its call to ring here (the login included). */
const ANSWER_WAIT_MS = 30_000

/**
 * `<ringkit-call>`: bind a logged-in `RingKit` to `.kit` and every call of that device, incoming or
 * placed with `.call()`, gets its whole UI: ringing, answering, the call itself, and the end.
 */
export class RingkitCall extends LitElement {
  static override styles = [callStyles, groupStyles]
  static override properties = {
    kit: { attribute: false },
    locale: { reflect: true },
    ringtone: {},
    ringback: {},
    resolveUser: { attribute: false },
    inviteCandidates: { attribute: false },
  }

  /** The logged-in client whose calls this element shows. */
  declare kit: RingKit | undefined
  /** `en` or `zh-CN`; the browser's language when not set. */
  declare locale: Locale
  /** URLs of sounds to use instead of the generated ringtone and ringback. */
  declare ringtone: string | undefined
  declare ringback: string | undefined
  /** Names and pictures for accids; the accid itself is shown without it. */
  declare resolveUser: ResolveUser | undefined
  /** Group calls: the people the Invite sheet offers; without it there is no Invite button. */
  declare inviteCandidates: InviteCandidates | undefined

  #s: UiState = {
    ...IDLE,
    devices: [],
    selected: {},
    soundBlocked: false,
    toast: undefined,
    notice: undefined,
    people: {},
  }
  #call: Call | undefined
  #unsubscribe: (() => void)[] = []
  #timers = new Map<'toast' | 'notice' | 'tick' | 'record', ReturnType<typeof setTimeout>>()
  #endedCallId: string | undefined
  /** Missed calls told in a notice already, and those arriving to be told together. */
  readonly #missedTold = new Set<string>()
  #missedPending: CallRecord[] = []
  /** The latest record this device got: it may arrive just before its callEnd. */
  #record: CallRecord | undefined
  readonly #localVideo = videoElement(true)
  readonly #remoteVideo = videoElement(false)
  readonly #group = new GroupCall({
    state: () => this.#s,
    set: (patch) => this.#set(patch),
    call: () => this.#call,
    me: () => this.kit?.accid,
    resolveUser: () => this.resolveUser,
    inviteCandidates: () => this.inviteCandidates,
    run: (work) => this.#run(work),
    requestUpdate: () => this.requestUpdate(),
  })
  readonly #tones = new Tones({
    onBlocked: (soundBlocked) => this.#set({ soundBlocked }),
  })

  constructor() {
    super()
    this.kit = undefined
    this.locale = detectLocale()
    this.ringtone = undefined
    this.ringback = undefined
    this.resolveUser = undefined
    this.inviteCandidates = undefined
  }

  /** What the element shows now: `idle`, `incoming`, `outgoing` or `connected`. */
  get state(): CallView {
    return this.#s.view
  }

  /** The call on screen, if any. */
  get currentCall(): Call | undefined {
    return this.#call
  }

  /** Places a call and shows it: ringback, then the call. Rejects with the call's `RingKitError`. */
  async call(options: { to: string; type: CallType }): Promise<Call> {
    const kit = this.#requireKit()
    return this.#place(options.type, options.to, undefined, () => kit.call(options))
  }

  /**
   * Places a group call and shows it: a tile per person, each "Calling…" until it answers, then
   * the grid. Rejects with the call's `RingKitError` (`SFU_REQUIRED` past 4 people without Janus).
   */
  async groupCall(options: { to: string[]; type: CallType }): Promise<Call> {
    const kit = this.#requireKit()
    const members = [
      { accid: kit.accid ?? '', status: 'joined' as const },
      ...options.to.map((accid) => ({ accid, status: 'ringing' as const })),
    ]
    return this.#place(options.type, options.to[0] ?? '', members, () => kit.groupCall(options))
  }

  /** Plays the other side's sound on this output device (browsers with `setSinkId`). */
  async setSpeaker(deviceId: string): Promise<void> {
    this.#set({ selected: { ...this.#s.selected, speaker: deviceId } })
    await Promise.all([this.#remoteVideo, ...this.#group.videos].map(async (v) => setSink(v, deviceId)))
  }

  accept(asAudio = false): Promise<void> {
    return this.#actions.accept(asAudio)
  }

  override connectedCallback(): void {
    super.connectedCallback()
    this.#timers.set(
      'tick',
      // The timer, and in group calls the tiles of members who went, which stay a few seconds.
      setInterval(() => (this.#s.view === 'connected' || this.#s.group) && this.requestUpdate(), 1000),
    )
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    this.#tones.stop()
    this.#group.measureGrid(undefined)
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('kit')) this.#bind(this.kit)
  }

  protected override updated(): void {
    this.setAttribute('state', this.#s.view)
    this.setAttribute('call-type', this.#s.type)
    // A video element moved to another container pauses in some browsers; nudge both.
    for (const v of [this.#localVideo, this.#remoteVideo, ...this.#group.videos])
      if (v.srcObject && v.paused) void v.play().catch(() => {})
  }

  override render() {
    const ctx: ViewContext = {
      s: this.#s,
      t: this.#t(),
      now: Date.now(),
      localVideo: this.#localVideo,
      remoteVideo: this.#remoteVideo,
      act: this.#actions,
      me: this.kit?.accid ?? '',
      memberVideo: (accid) => this.#group.video(accid),
      memberVideos: this.#group.videos,
      canInvite: this.inviteCandidates !== undefined,
      grid: { box: this.#group.gridBox, measure: this.#group.measureGrid },
    }
    const { view, minimized, type, group } = this.#s
    let panel: unknown = nothing
    if (view !== 'idle' && minimized) return html`${group ? groupMini(ctx) : miniWindow(ctx)}${overlays(ctx)}`
    if (group) panel = view === 'incoming' ? groupIncomingPanel(ctx) : groupPanel(ctx)
    else if (view === 'incoming') panel = incomingPanel(ctx)
    else if (view === 'outgoing') panel = outgoingPanel(ctx)
    else if (view === 'connected') panel = type === 'video' ? videoPanel(ctx) : audioPanel(ctx)
    const main = view === 'idle' ? nothing : html`<div class="overlay">${panel}</div>`
    return html`${main}${overlays(ctx)}`
  }

  // ---- state ----

  #t(): Translate {
    return translator(this.locale)
  }

  #set(patch: Partial<UiState>): void {
    this.#s = { ...this.#s, ...patch }
    this.requestUpdate()
  }

  #show(view: CallView, type: CallType, accid: string): void {
    // With a resolver, no name until it answers: an accid flashing first reads like a glitch.
    this.#set({ ...IDLE, view, type, peer: { accid, name: this.resolveUser ? '' : accid } })
    this.style.setProperty('--_peer', colorFor(accid))
    void this.#resolvePeer(accid)
  }

  async #resolvePeer(accid: string): Promise<void> {
    let info: UserInfo | undefined
    try {
      info = await this.resolveUser?.(accid)
    } catch {
      info = undefined
    }
    if (this.#s.peer.accid !== accid) return
    this.#set({ peer: { accid, ...(info ?? { name: accid }) } })
    if (info?.color) this.style.setProperty('--_peer', info.color)
  }

  /** Shows a call on its way out, places it with `place`, and shows what became of it. */
  async #place(
    type: CallType,
    peer: string,
    members: { accid: string; status: GroupMemberStatus }[] | undefined,
    place: () => Promise<Call>,
  ): Promise<Call> {
    if (this.#call) throw new RingKitError('CALLER_BUSY')
    this.#show('outgoing', type, peer)
    if (members) this.#group.setMembers(members)
    this.#play('ringback')
    try {
      const call = await place()
      this.#attach(call)
      // It may have ended before it was ours to show (everyone busy): its end is then told now.
      if (call.status === 'ended') this.#ended(call)
      return call
    } catch (error) {
      this.#clear()
      this.#showNotice(errorMessage(codeOf(error), this.#s.peer.name, this.#t()))
      throw error
    }
  }

  #attach(call: Call): void {
    this.#call = call
    call.setupLocalView(this.#localVideo)
    if (!call.isGroup) return call.setupRemoteView(call.peer, this.#remoteVideo)
    this.#group.attach(call)
    // Someone may have answered before the call was ours to show.
    if (this.#s.view === 'outgoing' && call.status === 'connected') this.#connected()
  }

  #connected(): void {
    this.#tones.stop()
    this.#set({ view: 'connected', connectedAt: Date.now() })
  }

  #clear(): void {
    this.#tones.stop()
    this.#call = undefined
    this.#group.clear()
    this.#set({ ...IDLE })
  }

  #play(kind: 'ringtone' | 'ringback'): void {
    this.#tones.setUrls({ ringtone: this.ringtone, ringback: this.ringback })
    this.#tones.play(kind)
  }

  #showToast(text: string): void {
    this.#set({ toast: text })
    this.#later('toast', TOAST_MS, () => this.#set({ toast: undefined }))
  }

  #showNotice(text: string, kind: 'error' | 'info' = 'error', sticky = false): void {
    this.#set({ notice: { text, kind } })
    clearTimeout(this.#timers.get('notice'))
    if (!sticky) this.#later('notice', NOTICE_MS, () => this.#set({ notice: undefined }))
  }

  #later(name: 'toast' | 'notice' | 'record', ms: number, run: () => void): void {
    clearTimeout(this.#timers.get(name))
    this.#timers.set(name, setTimeout(run, ms))
  }

  #requireKit(): RingKit {
    if (!this.kit) throw new RingKitError('NOT_LOGGED_IN', 'set the element’s kit first')
    return this.kit
  }

  #focus(part: string): void {
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`[part~="${part}"]`)?.focus())
  }

  /** The call ended here: back to idle, and the record's wording once it comes (or a plain "ended" if it does not). */
  #ended(call: Call, reason?: string, by?: string): void {
    if (this.#call !== call) return
    this.#clear()
    // A group call that goes on without me has no record yet: say at once what happened.
    const goodbye = call.isGroup && call.role === 'callee' ? groupGoodbye(reason, by === this.kit?.accid) : undefined
    if (goodbye) return this.#showToast(this.#t()(goodbye))
    this.#endedCallId = call.callId
    if (this.#record?.callId === call.callId) return this.#toastRecord(this.#record)
    this.#later('record', 1_500, () => this.#showToast(this.#t()('callEnded')))
  }

  #endedElsewhere(call: Call, key: 'answeredElsewhere' | 'declinedElsewhere'): void {
    if (this.#call !== call) return
    this.#clear()
    this.#showToast(this.#t()(key))
  }

  #onRecord(record: CallRecord): void {
    this.#record = record
    if (record.callId === this.#endedCallId) this.#toastRecord(record)
  }

  #toastRecord(record: CallRecord): void {
    const me = this.kit?.accid
    if (!me) return
    clearTimeout(this.#timers.get('record'))
    this.#showToast(describeRecord(record, me, this.#t()).text)
  }

  #bind(kit: RingKit | undefined): void {
    for (const off of this.#unsubscribe) off()
    this.#unsubscribe = kit ? this.#listen(kit) : []
    if (kit) this.#arrived(kit)
  }

  /**
   * What the login brought: the calls missed while no device was online, told in a notice, and
   * the call a notification opened this page to answer (`?ringkitCall=`), answered once it rings.
   * The kit may be bound before its login ends: its `missedCall` events tell the same then.
   */
  #arrived(kit: RingKit): void {
    if (kit.online) this.#tellMissed(kit.missedCalls)
    const callId = takeCallFromNotification()
    if (!callId) return
    void kit.ringingCall(callId, ANSWER_WAIT_MS).then(async (call) => {
      if (!call || (this.#call && this.#call !== call)) return
      if (!this.#call) {
        this.#show('incoming', call.type, call.peer)
        this.#attach(call)
      }
      await this.accept()
    })
  }

  /** Missed calls not told yet, in one notice: who called when it was one, how many when more. */
  #tellMissed(records: CallRecord[]): void {
    const fresh = records.filter((r) => !this.#missedTold.has(r.callId))
    if (fresh.length === 0) return
    for (const r of fresh) this.#missedTold.add(r.callId)
    const first = fresh[0]!
    // With a resolver, its name, not the accid first and the name a moment later.
    void Promise.resolve(fresh.length === 1 ? this.resolveUser?.(first.caller) : undefined)
      .catch(() => undefined)
      .then((info) => {
        const t = this.#t()
        const text =
          fresh.length === 1
            ? t('missedFrom', { name: info?.name || first.caller })
            : t('missedMany', { count: String(fresh.length) })
        this.#showNotice(text, 'info')
      })
  }

  #listen(kit: RingKit): (() => void)[] {
    const mine = (call: Call) => call === this.#call
    const t = () => this.#t()
    return [
      kit.on('invited', ({ call, from, type }) => {
        if (this.#call) return
        this.#show('incoming', type, from)
        this.#attach(call)
        this.#play('ringtone')
        this.#focus('accept')
      }),
      kit.on('userAccept', ({ call }) => {
        // In a group call, the first answer connects me; the others only join.
        if (mine(call) && !(call.isGroup && this.#s.view !== 'outgoing')) this.#connected()
      }),
      kit.on('callEnd', ({ call, reason, by }) => this.#ended(call, reason, by)),
      kit.on('membersChange', ({ call, members }) => mine(call) && this.#group.setMembers(members)),
      kit.on(
        'userEnter',
        ({ call, accid }) => mine(call) && call.isGroup && this.#group.media(accid, { entered: true }),
      ),
      kit.on('userLeave', ({ call, accid }) => {
        if (!mine(call) || !call.isGroup) return
        this.#group.media(accid, { entered: false })
        this.#group.hear(accid, undefined)
      }),
      kit.on('otherClientAccept', ({ call }) => this.#endedElsewhere(call, 'answeredElsewhere')),
      kit.on('otherClientReject', ({ call }) => this.#endedElsewhere(call, 'declinedElsewhere')),
      kit.on('record', (record) => this.#onRecord(record)),
      // One per record, in one go at login: told together once they are all in.
      kit.on('missedCall', (record) => {
        this.#missedPending.push(record)
        if (this.#missedPending.length === 1) queueMicrotask(() => this.#tellMissed(this.#missedPending.splice(0)))
      }),
      kit.on('audioAvailable', ({ call, accid, available }) => {
        if (!mine(call) || accid === kit.accid) return
        if (call.isGroup) this.#group.media(accid, { micOff: !available })
        else this.#set({ peerMicOff: !available })
      }),
      kit.on('videoAvailable', ({ call, accid, available }) => {
        if (!mine(call) || accid === kit.accid) return
        if (call.isGroup) this.#group.media(accid, { cameraOff: !available })
        else this.#set({ peerCameraOff: !available })
      }),
      kit.on('volume', ({ call, accid, level }) => {
        if (!mine(call)) return
        if (call.isGroup) this.#group.hear(accid, level)
        else if (accid !== kit.accid && level > 0.04 !== this.#s.peerSpeaking) this.#set({ peerSpeaking: level > 0.04 })
      }),
      kit.on('callTypeChange', ({ call, type, state, by }) => {
        if (!mine(call)) return
        const byPeer = by !== kit.accid
        if (state === 'invite' && byPeer) this.#set({ switchAsked: true })
        else if (state === 'reject' && byPeer) {
          this.#set({ switchPending: false })
          this.#showToast(t()('switchRefused', { name: this.#s.peer.name }))
        } else if (state === 'switched' || state === 'accept')
          this.#set({ type, switchAsked: false, switchPending: false, cameraOff: false, peerCameraOff: false })
      }),
      kit.on('disconnect', () => this.#showNotice(t()('networkLost'), 'error', true)),
      kit.on('reconnected', ({ call }) => {
        if (!call && this.#s.notice) this.#showNotice(t()('networkRestored'), 'info')
      }),
      kit.on('kickedOffline', ({ reason }) => {
        if (this.#call) this.#clear()
        this.#showNotice(t()(reason === 'revoked' ? 'revoked' : 'kickedOffline'), 'error', true)
      }),
      kit.on('tokenExpired', () => {
        if (this.#call) this.#clear()
        this.#showNotice(t()('tokenExpired'), 'error', true)
      }),
    ]
  }

  // ---- what the buttons do ----

  #run(work: () => Promise<unknown>): Promise<void> {
    return work().then(
      () => undefined,
      (error: unknown) => this.#showNotice(errorMessage(codeOf(error), this.#s.peer.name, this.#t())),
    )
  }

  readonly #actions: Actions = {
    accept: (asAudio = false) => {
      const call = this.#call
      if (!call || this.#s.view !== 'incoming') return Promise.resolve()
      this.#tones.stop()
      this.#set({ view: 'connected', connectedAt: undefined })
      return this.#run(async () => {
        try {
          await call.accept()
        } catch (error) {
          await call.reject().catch(() => {})
          this.#clear()
          throw error
        }
        this.#set({ connectedAt: Date.now() })
        if (asAudio && call.type === 'video') await call.switchType('audio')
      })
    },
    reject: () => void this.#run(async () => this.#call?.reject()),
    cancel: () => {
      // The call may still be on its way to the server: cancel it as soon as it exists.
      if (!this.#call) return this.#clear()
      void this.#run(async () => this.#call?.cancel())
    },
    hangup: () => {
      const call = this.#call
      // In a group call only the caller's hangup ends it for everyone; the others leave it.
      void this.#run(async () => (call?.isGroup && call.role === 'callee' ? call.leave() : call?.hangup()))
    },
    toggleMic: () => {
      const micOff = !this.#s.micOff
      this.#set({ micOff })
      if (micOff && this.#call?.isGroup) this.#group.hear(this.kit?.accid ?? '', undefined)
      void this.#run(async () => this.#call?.enableLocalAudio(!micOff))
    },
    toggleCamera: () => {
      const cameraOff = !this.#s.cameraOff
      this.#set({ cameraOff })
      void this.#run(async () => this.#call?.enableLocalVideo(!cameraOff))
    },
    flipCamera: () => void this.#run(async () => this.#call?.switchCamera()),
    switchType: (type) => {
      if (type === 'video') this.#set({ switchPending: true })
      void this.#run(async () => {
        try {
          await this.#call?.switchType(type)
        } catch (error) {
          // A refusal has its own toast (from the callTypeChange event).
          if (codeOf(error) !== 'SWITCH_REJECTED') throw error
        } finally {
          this.#set({ switchPending: false })
        }
      })
    },
    answerSwitch: (agree) => {
      this.#set({ switchAsked: false })
      void this.#run(async () => this.#call?.answerSwitchType(agree))
    },
    minimize: (minimized) => this.#set({ minimized, devicesOpen: false }),
    openDevices: (open) => {
      this.#set({ devicesOpen: open })
      if (open) void this.#run(async () => this.#set({ devices: (await this.kit?.listDevices()) ?? [] }))
    },
    selectDevice: (kind, deviceId) => {
      if (kind !== 'speaker') this.#set({ selected: { ...this.#s.selected, [kind]: deviceId } })
      void this.#run(async () =>
        kind === 'speaker' ? this.setSpeaker(deviceId) : this.kit?.selectDevice(kind, deviceId),
      )
    },
    unlockSound: () => this.#tones.unlock(),
    dismissNotice: () => this.#set({ notice: undefined }),
    openInvite: (open) => this.#group.openInvite(open),
    toggleInvitee: (accid) => this.#group.toggleInvitee(accid),
    sendInvite: () => this.#group.sendInvite(),
  }
}

/** What a group callee's own ending means, when the call goes on without it. */
function groupGoodbye(reason: string | undefined, byMe: boolean): MessageKey | undefined {
  if (reason === 'rejected' && byMe) return 'recordYouDeclined'
  if (reason === 'timeout') return 'recordMissed'
  if (reason === 'hangup' && byMe) return 'youLeft'
  return undefined
}

function codeOf(error: unknown): string {
  return error instanceof RingKitError ? error.code : 'MEDIA_FAILED'
}
