import type { DeviceRef } from '@ringkit/protocol'
import type { Logger } from 'pino'
import type { CallEngine } from '../calls/CallEngine.ts'
import type { CallStateStore } from '../calls/ports.ts'
import { sameDevice } from '../calls/steps.ts'
import type { CallState } from '../calls/types.ts'
import type { Gateway } from './Gateway.ts'
import type { Session } from './Session.ts'
import type { SessionRegistry } from './SessionRegistry.ts'

export interface DrainOptions {
  gateway: Gateway
  registry: SessionRegistry
  calls: CallStateStore
  engine: CallEngine
  log: Logger
  /** How long calls in progress may go on before they are ended (with their records). */
  timeoutMs: number
  /** Whether the node is closing meanwhile: the drain stops where it is. */
  closing: () => boolean
}

/** How often a draining node looks for devices whose calls ended. */
const CHECK_EVERY_MS = 200

/**
 * Empties the node: no new logins or calls. In a cluster, where sessions outlive their node, every
 * device is asked to move at once and takes its session and calls along. Otherwise, a device in no
 * call is asked to move at once; a device a call needs (it carries the call, or the call rings on
 * it) keeps its session until that call ends, so the call goes on. Another device of the same
 * account moves at once. Calls still going at `timeoutMs` end as `interrupted`, each with its
 * record, and their devices are asked to move too. Resolves when no session is left (in a cluster,
 * when each has moved, or at `timeoutMs`).
 */
export async function drainNode(o: DrainOptions): Promise<void> {
  o.gateway.startDraining()
  const deadline = Date.now() + o.timeoutMs
  const sentAt = new WeakMap<Session, number>()
  for (;;) {
    if (o.closing()) return
    if (o.gateway.handsOver) {
      if (handOver(o, sentAt) || Date.now() >= deadline) return
      await new Promise((resolve) => setTimeout(resolve, CHECK_EVERY_MS))
      continue
    }
    const { inCalls, settling } = await moveIdle(o)
    if (inCalls.size === 0 && !settling) return
    const left = deadline - Date.now()
    if (left <= 0) return endCalls(o, inCalls)
    await new Promise((resolve) => setTimeout(resolve, Math.min(CHECK_EVERY_MS, left)))
  }
}

/** How long a device asked to move has to resume its session on another node before the drain stops waiting. */
const HAND_OVER_MS = 5_000

/**
 * Sessions outlive the node: every device is asked to move at once and resumes its session, calls
 * and all, on another node. True once each has (its copy here knows where it went), or had its
 * time to; a device with no connection when the drain began is not waited for.
 */
function handOver(o: DrainOptions, sentAt: WeakMap<Session, number>): boolean {
  let done = true
  const now = Date.now()
  for (const session of o.registry.all()) {
    if (session.movedTo !== undefined) continue
    if (!sentAt.has(session)) sentAt.set(session, session.socket ? now : -Infinity)
    o.gateway.moveAway(session)
    if (now - sentAt.get(session)! < HAND_OVER_MS) done = false
  }
  return done
}

/**
 * Moves every device no call needs away; returns the calls the others are in, by callId, and
 * whether a device stayed to hear the end of its call.
 */
async function moveIdle(o: DrainOptions): Promise<{ inCalls: Map<string, string>; settling: boolean }> {
  const inCalls = new Map<string, string>()
  let settling = false
  for (const session of o.registry.all()) {
    // Its device resumed on another node: the call goes on there.
    if (session.movedTo !== undefined) {
      o.gateway.moveAway(session)
      continue
    }
    const callId = await o.calls.callOf(session.appKey, session.accid)
    const state = callId === undefined ? undefined : await o.engine.get(callId)
    if (state && needs(state, session)) inCalls.set(state.callId, session.appKey)
    // A call that just ended still owes this device its callEnd and record: it moves next round.
    else if (o.engine.settling(session.appKey, session.accid)) settling = true
    else o.gateway.moveAway(session)
  }
  return { inCalls, settling }
}

/** Whether the call needs this device where it is: the device carries the call, or the call rings on it. */
export function needs(state: CallState, device: DeviceRef): boolean {
  if (state.phase === 'ended') return false
  if (sameDevice(state.caller, device)) return true
  if (state.phase === 'active' && !state.isGroup) return sameDevice(state.answeredBy, device)
  const member = state.members.find((m) => m.accid === device.accid)
  if (member?.status === 'ringing') return true
  if (member?.status !== 'joined' || member.leftAt !== undefined || !member.device) return false
  return sameDevice(member.device, device)
}

async function endCalls(o: DrainOptions, inCalls: Map<string, string>): Promise<void> {
  o.log.warn({ calls: inCalls.size }, 'drain time is up: ending the calls still in progress')
  for (const [callId, appKey] of inCalls) {
    await o.engine.act(appKey, callId, { kind: 'interrupt' }).catch((error: unknown) => {
      // Most often the call ended meanwhile; anything else is worth a line.
      o.log.info({ err: error, callId }, 'ending a call at the end of the drain failed')
    })
  }
  const left: Session[] = o.registry.all()
  for (const session of left) o.gateway.moveAway(session)
}
