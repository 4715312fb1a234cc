import type { Call, GroupMember } from '@ringkit/client'
import { here, mergeMembers, NO_GROUP, NO_MEDIA, SpeakerTracker } from './group.ts'
import type { GroupState, InviteCandidates, MemberMedia, ResolveUser, UiState } from './types.ts'
import { setSink, videoElement } from './video.ts'

/** What the group machinery needs of `<ringkit-call>`: its state and its one setter, and the app's hooks. */
export interface GroupHost {
  state(): UiState
  set(patch: Partial<UiState>): void
  call(): Call | undefined
  me(): string | undefined
  resolveUser(): ResolveUser | undefined
  inviteCandidates(): InviteCandidates | undefined
  /** Runs a user's action; a failure shows as a notice. */
  run(work: () => Promise<unknown>): Promise<void>
  requestUpdate(): void
}

/**
 * A group call's side of `<ringkit-call>`: a video element per member, who speaks, the names of
 * everyone, the size of the tile area, and the invite sheet. State changes go through the host.
 */
export class GroupCall {
  readonly #host: GroupHost
  /** A video element per member, bound to the call with `setupRemoteView`. */
  readonly #videos = new Map<string, HTMLVideoElement>()
  readonly #speakers = new SpeakerTracker()
  readonly #resolving = new Set<string>()
  #grid: { element: Element; observer: ResizeObserver } | undefined
  #gridBox: { width: number; height: number } | undefined

  constructor(host: GroupHost) {
    this.#host = host
  }

  get videos(): HTMLVideoElement[] {
    return [...this.#videos.values()]
  }

  /** The tile area's size, once measured. */
  get gridBox(): { width: number; height: number } | undefined {
    return this.#gridBox
  }

  /** The call is on screen now: bind the videos made while it was being placed, and show who is in it. */
  attach(call: Call): void {
    this.#speakers.reset()
    for (const [accid, element] of this.#videos) call.setupRemoteView(accid, element)
    this.setMembers(call.members)
  }

  clear(): void {
    for (const element of this.#videos.values()) element.srcObject = null
    this.#videos.clear()
    this.#speakers.reset()
  }

  setMembers(members: readonly GroupMember[]): void {
    this.#patch({ members: mergeMembers(this.#host.state().group?.members ?? [], members, Date.now()) })
    for (const { accid, status, micOff, cameraOff } of members) {
      // My own tile shows my picture in audio calls; my video is the local one.
      this.#person(accid)
      if (accid === this.#host.me()) continue
      this.video(accid)
      // The list says who is muted, also of those who muted before this device came in.
      if (status === 'joined') this.media(accid, { micOff: micOff === true, cameraOff: cameraOff === true })
    }
  }

  media(accid: string, patch: Partial<MemberMedia>): void {
    const media = this.#host.state().group?.media ?? {}
    this.#patch({ media: { ...media, [accid]: { ...NO_MEDIA, ...media[accid], ...patch } } })
    if (patch.micOff) this.hear(accid, undefined)
  }

  /** A `volume` reading, or (undefined) the member went quiet at once: its media went, or it muted. */
  hear(accid: string, level: number | undefined): void {
    const before = this.#speakers.speaker
    // Whoever muted is silent, whatever its smoothed level still says.
    const state = this.#host.state()
    const muted = accid === this.#host.me() ? state.micOff : state.group?.media[accid]?.micOff
    const speaker = level === undefined ? this.#speakers.forget(accid) : this.#speakers.hear(accid, muted ? 0 : level)
    if (speaker !== before) this.#patch({ speaker })
  }

  /** The member's video element, made and bound to the call the first time it is asked for. */
  video(accid: string): HTMLVideoElement {
    let element = this.#videos.get(accid)
    if (!element) {
      element = videoElement(false, 'tile-video')
      this.#videos.set(accid, element)
      this.#host.call()?.setupRemoteView(accid, element)
      const speaker = this.#host.state().selected.speaker
      if (speaker) void setSink(element, speaker).catch(() => {})
    }
    return element
  }

  /** Watches the size of the tile area, which the grid's shape is computed from (a `ref` callback). */
  readonly measureGrid = (element: Element | undefined): void => {
    if (element === this.#grid?.element) return
    this.#grid?.observer.disconnect()
    this.#grid = undefined
    if (!element) return
    const observer = new ResizeObserver(([entry]) => {
      if (!entry) return
      const { width, height } = entry.contentRect
      if (width === this.#gridBox?.width && height === this.#gridBox.height) return
      this.#gridBox = { width, height }
      this.#host.requestUpdate()
    })
    observer.observe(element)
    this.#grid = { element, observer }
  }

  // ---- the invite sheet ----

  openInvite(open: boolean): void {
    this.#patch({ invite: open ? { candidates: undefined, chosen: [], sending: false } : undefined })
    if (!open) return
    void this.#host.run(async () => {
      const candidates = await (this.#host.inviteCandidates()?.() ?? Promise.resolve([])).catch((error: unknown) => {
        this.#patch({ invite: undefined })
        throw error
      })
      for (const candidate of candidates) if (!candidate.name) this.#person(candidate.accid)
      const invite = this.#host.state().group?.invite
      if (invite) this.#patch({ invite: { ...invite, candidates } })
    })
  }

  toggleInvitee(accid: string): void {
    const invite = this.#host.state().group?.invite
    if (!invite) return
    const chosen = invite.chosen.includes(accid) ? invite.chosen.filter((a) => a !== accid) : [...invite.chosen, accid]
    this.#patch({ invite: { ...invite, chosen } })
  }

  sendInvite(): void {
    const call = this.#host.call()
    const invite = this.#host.state().group?.invite
    const here = this.#present()
    const accids = invite?.chosen.filter((accid) => !here.has(accid)) ?? []
    if (!call || !invite || accids.length === 0) return
    this.#patch({ invite: { ...invite, sending: true } })
    void this.#host.run(async () => {
      try {
        await call.invite(accids)
        this.#patch({ invite: undefined })
      } catch (error) {
        this.#patch({ invite: { ...invite, sending: false } })
        throw error
      }
    })
  }

  /** The members in the call or ringing, who cannot be invited again. */
  #present(): Set<string> {
    return here(this.#host.state().group?.members ?? [])
  }

  #patch(patch: Partial<GroupState>): void {
    this.#host.set({ group: { ...(this.#host.state().group ?? NO_GROUP), ...patch } })
  }

  /** Asks the app once for a member's name and picture; without a resolver the accid is the name. */
  #person(accid: string): void {
    const { people } = this.#host.state()
    if (people[accid] || this.#resolving.has(accid)) return
    const resolve = this.#host.resolveUser()
    if (!resolve) return this.#host.set({ people: { ...people, [accid]: { name: accid } } })
    this.#resolving.add(accid)
    void Promise.resolve()
      .then(() => resolve(accid))
      .catch(() => undefined)
      .then((info) => {
        this.#resolving.delete(accid)
        this.#host.set({ people: { ...this.#host.state().people, [accid]: info ?? { name: accid } } })
      })
  }
}
