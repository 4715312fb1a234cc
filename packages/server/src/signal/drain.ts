import type { Logger } from 'pino'
import type { CallEngine } from '../calls/CallEngine.ts'
import type { CallStateStore } from '../calls/ports.ts'
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
 * Empties the node: no new logins or calls; a device in no call is asked to move at once; a device
 * in a call (ringing or connected) keeps its session until that call ends, so the call goes on.
 * Calls still going at `timeoutMs` end as `interrupted`, each with its record, and their devices are
 * asked to move too. Resolves when no session is left.
 */
export async function drainNode(o: DrainOptions): Promise<void> {
  o.gateway.startDraining()
  const deadline = Date.now() + o.timeoutMs
  for (;;) {
    if (o.closing()) return
    const inCalls = await moveIdle(o)
    if (inCalls.size === 0) return
    const left = deadline - Date.now()
    if (left <= 0) return endCalls(o, inCalls)
    await new Promise((resolve) => setTimeout(resolve, Math.min(CHECK_EVERY_MS, left)))
  }
}

/** Moves every device in no call away; returns the calls the others are in, by callId. */
async function moveIdle(o: DrainOptions): Promise<Map<string, string>> {
  const inCalls = new Map<string, string>()
  for (const session of o.registry.all()) {
    const callId = await o.calls.callOf(session.appKey, session.accid)
    if (callId === undefined) o.gateway.moveAway(session)
    else inCalls.set(callId, session.appKey)
  }
  return inCalls
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
