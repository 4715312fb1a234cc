import { MAX_GROUP_MEMBERS, MAX_MESH_MEMBERS, RingKitError, type CallMedia } from '@ringkit/protocol'
import { holders } from './steps.ts'
import type { CallState } from './types.ts'

/** Refuses a group of `people` at once: 25 whatever carries the media, 4 in a mesh. */
export function checkGroupSize(people: number, media: CallMedia): void {
  if (people > MAX_GROUP_MEMBERS) throw new RingKitError('GROUP_TOO_LARGE')
  if (media === 'mesh' && people > MAX_MESH_MEMBERS) throw new RingKitError('SFU_REQUIRED')
}

/**
 * Refuses to ring `fresh` into `s` when the call would then hold too many at once (those in it and
 * those it rings: who declined, missed or left is not counted), or would have rung more than
 * `maxCallees` people over its life.
 */
export function checkInvite(s: CallState, fresh: string[], maxCallees = Infinity): void {
  checkGroupSize(new Set([...holders(s), ...fresh]).size, s.media)
  checkCalleesInAll(new Set([...s.callees, ...fresh]).size, maxCallees)
}

/** Refuses a group call that would have rung more than `maxCallees` people over its life. */
export function checkCalleesInAll(callees: number, maxCallees = Infinity): void {
  if (callees > maxCallees) {
    throw new RingKitError('GROUP_TOO_LARGE', `a group call may ring ${maxCallees} people in all`)
  }
}
