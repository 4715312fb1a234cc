import type { GroupMemberStatus, GroupState, MemberMedia, MemberView } from './types.ts'

export const NO_MEDIA: MemberMedia = { entered: false, micOff: false, cameraOff: false }
export const NO_GROUP: GroupState = { members: [], media: {}, speaker: undefined, invite: undefined }

/** How long a member who went (declined, busy, no answer, left) keeps its tile, saying so. */
export const GONE_TILE_MS = 5_000

/**
 * The members as the call now tells them, keeping when each one's status last changed. A member
 * first seen already gone (it declined before I joined) has no date, so it never gets a tile.
 */
export function mergeMembers(
  before: readonly MemberView[],
  now: readonly { accid: string; status: GroupMemberStatus }[],
  at: number,
): MemberView[] {
  return now.map(({ accid, status }) => {
    const known = before.find((m) => m.accid === accid)
    if (known?.status === status) return known
    return { accid, status, since: known || status === 'joined' || status === 'ringing' ? at : undefined }
  })
}

/** In the call or ringing: such a member cannot be invited again, and keeps its tile. */
export function isHere(member: { status: GroupMemberStatus }): boolean {
  return member.status === 'joined' || member.status === 'ringing'
}

/** The accids of those in the call or ringing. */
export function here(members: readonly MemberView[]): Set<string> {
  return new Set(members.filter(isHere).map((m) => m.accid))
}

/** Whether a member has a tile now: everyone in the call or ringing, and those who just went. */
export function hasTile(member: MemberView, now: number): boolean {
  if (isHere(member)) return true
  return member.since !== undefined && now - member.since < GONE_TILE_MS
}

export interface GridShape {
  columns: number
  /** Each tile's width in CSS pixels; its height follows from the aspect ratio. */
  tileWidth: number
}

/**
 * The column count that makes `count` equal tiles of `aspect` (width / height) as large as they can
 * be inside `box`, `gap` apart. Fewer columns win a tie, so a few people get a calm layout.
 */
export function gridShape(
  count: number,
  box: { width: number; height: number },
  aspect: number,
  gap: number,
): GridShape {
  let best: GridShape = { columns: 1, tileWidth: 0 }
  for (let columns = 1; columns <= Math.max(1, count); columns++) {
    const rows = Math.ceil(count / columns)
    const byWidth = (box.width - gap * (columns - 1)) / columns
    const byHeight = ((box.height - gap * (rows - 1)) / rows) * aspect
    const tileWidth = Math.floor(Math.min(byWidth, byHeight))
    if (tileWidth > best.tileWidth) best = { columns, tileWidth }
  }
  return best
}

/**
 * Who is speaking, from `volume` readings (0..1, about one a second per member). Each member's level
 * is smoothed, and the highlight moves only when someone is clearly louder than the current speaker
 * or the speaker falls quiet, so it does not flicker between two people talking over each other.
 */
export class SpeakerTracker {
  readonly #levels = new Map<string, number>()
  #speaker: string | undefined
  readonly #threshold: number
  readonly #smoothing: number
  readonly #margin: number

  constructor(options: { threshold?: number; smoothing?: number; margin?: number } = {}) {
    this.#threshold = options.threshold ?? 0.04
    this.#smoothing = options.smoothing ?? 0.5
    this.#margin = options.margin ?? 1.5
  }

  get speaker(): string | undefined {
    return this.#speaker
  }

  /** Folds in one reading and says who speaks now. */
  hear(accid: string, level: number): string | undefined {
    const before = this.#levels.get(accid) ?? 0
    this.#levels.set(accid, before + (level - before) * this.#smoothing)
    let loudest: string | undefined
    let top = 0
    for (const [who, smoothed] of this.#levels) {
      if (smoothed > top) [loudest, top] = [who, smoothed]
    }
    const current = this.#speaker === undefined ? 0 : (this.#levels.get(this.#speaker) ?? 0)
    if (current < this.#threshold) this.#speaker = top >= this.#threshold ? loudest : undefined
    else if (loudest !== this.#speaker && top > current * this.#margin) this.#speaker = loudest
    return this.#speaker
  }

  /** The member went: it no longer counts. */
  forget(accid: string): string | undefined {
    this.#levels.delete(accid)
    if (this.#speaker === accid) this.#speaker = undefined
    return this.#speaker
  }

  reset(): void {
    this.#levels.clear()
    this.#speaker = undefined
  }
}
