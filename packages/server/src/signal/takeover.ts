import type { Logger } from 'pino'
import type { ServerEvent } from '@ringkit/protocol'
import type { ClusterDelivery, Moved } from '../bus/cluster-delivery.ts'
import { nodeAlive } from '../bus/nodes.ts'
import type { RedisLink } from '../bus/redis.ts'
import type { LoggedSession, SessionLog, TakenLog } from '../bus/session-log.ts'
import type { Limits } from '../limits.ts'
import type { App } from '../store/types.ts'
import type { Presence } from './presence.ts'
import { Session } from './Session.ts'

/** How long the node a session is taken from has to say it still holds it, before its heartbeat is watched. */
const HOLDS_ANSWER_MS = 1_000
/**
 * When a takeover from a dead node looks in its inbox again: a sender that read presence just
 * before the move appends there still, within a round trip or two.
 */
const LOOK_AGAIN_MS = 1_500
/** A takeover that loses a race with another node's reads the log again this many times. */
const TAKEOVER_TRIES = 3

export interface SessionHandoffOptions {
  sessions: SessionLog
  cluster: ClusterDelivery
  presence: Presence
  link: RedisLink
  nodeId: string
  limits: Limits
  log: Logger
  /** Another node took a session of this node over: the gateway lets its copy go, ending nothing. */
  onMoved: (moved: Moved) => void
  /** Whether this node holds the session (that id, not moved on). */
  holdsHere: (ref: LoggedSession) => boolean
  /** Whether the session is this node's (registered, not replaced): looking again is for it alone. */
  isHeld: (session: Session) => boolean
  /** A kick or a replacement of the device turned up late in a dead node's inbox. */
  onEnded: (session: Session) => void
}

/** A session taken over, registered at once; `whole` says, once known, whether it missed nothing. */
export interface TakenSession {
  session: Session
  added: boolean
  whole: Promise<boolean>
}

/**
 * Sessions that outlive their node in a cluster. Each session's numbered frames also go to its log
 * in Redis (`SessionLog`); a device resuming on a node that does not hold its session is answered
 * from that log, gap-free or not at all, and the session moves there with its numbering.
 * - From a live node, which answers that it holds the session: it is told to let its copy go;
 *   frames that copy numbers meanwhile (events already on their way to it) are refused by the log
 *   and carried on to the device's new node.
 * - From a dead node (or an earlier run of one): the events it had not numbered are still in its
 *   inbox, after the cursor the log keeps. They are numbered after the log's frames, and before
 *   the events that reach the session meanwhile.
 */
export class SessionHandoff {
  readonly #o: SessionHandoffOptions

  constructor(options: SessionHandoffOptions) {
    this.#o = options
  }

  /** A session new on this node starts its log. */
  opened(session: Session): void {
    session.journal = this.#o.sessions.journal(session, this.#fenced)
  }

  /**
   * The device resumes a session this node does not hold. Resolves the session, taken over with
   * every frame the device has not acknowledged, or undefined when its log cannot prove that.
   */
  async takeOver(
    app: App,
    device: { accid: string; deviceId: string },
    resume: { sessionId: string; lastSeq: number },
  ): Promise<TakenSession | undefined> {
    const ref: LoggedSession = { appKey: app.appKey, ...device, sessionId: resume.sessionId }
    const max = app.multiDevice ? this.#o.limits.devicesPerAccount : undefined
    for (let tries = 0; tries < TAKEOVER_TRIES; tries++) {
      const owner = await this.#o.sessions.owner(ref)
      if (owner === undefined) return undefined
      // Taken over here meanwhile, by the same device resuming on another socket: it resumes that.
      if (owner === this.#o.nodeId && this.#o.holdsHere(ref)) return undefined
      // A log naming this node that has no session here is an earlier run's.
      const holding = owner === this.#o.nodeId ? 'no' : await this.#o.cluster.holds(owner, ref, HOLDS_ANSWER_MS)
      if (holding === 'silent') {
        this.#o.log.info(
          { accid: ref.accid, node: owner },
          'the node that held the session does not answer: a new session',
        )
        return undefined
      }
      const taken = await this.#o.sessions.takeOver(ref, owner, resume.lastSeq, max, holding === 'no')
      if (taken === 'changed') continue
      if (!taken) return undefined
      return this.#taken(ref, taken, holding === 'no')
    }
    return undefined
  }

  #taken(ref: LoggedSession, taken: TakenLog, fromDead: boolean): TakenSession {
    const session = new Session({
      ...ref,
      limits: this.#o.limits,
      continued: { lastSeq: taken.lastSeq, frames: taken.frames },
    })
    // A request the device sends again was answered in these frames: it is not run twice.
    for (const frame of taken.frames) {
      const id = requestIdOf(frame.text)
      if (id !== undefined) session.firstSight(id)
    }
    session.journal = this.#o.sessions.journal(session, this.#fenced)
    if (!fromDead) {
      void this.#o.cluster.movedOn(taken.previousOwner, {
        appKey: ref.appKey,
        accid: ref.accid,
        deviceId: ref.deviceId,
        sessionId: ref.sessionId,
      })
      return { session, added: taken.added, whole: Promise.resolve(true) }
    }
    session.holdEvents()
    const whole = this.#readMissed(session, taken.previousOwner, taken.cursor!)
    return { session, added: taken.added, whole }
  }

  /** Gives the session what the dead node's inbox held for it; false when that cannot be proved whole. */
  async #readMissed(session: Session, node: string, cursor: string): Promise<boolean> {
    const device = { appKey: session.appKey, accid: session.accid, deviceId: session.deviceId }
    try {
      const missed = await this.#o.cluster.missedIn(node, cursor, device)
      if (!missed.whole || missed.ended) {
        this.#o.log.info(
          { accid: device.accid, node, whole: missed.whole },
          'the dead node\u2019s inbox cannot complete the session: a new session',
        )
        session.takeEvents([])
        return false
      }
      session.takeEvents(missed.events)
      setTimeout(() => void this.#lookAgain(session, node, missed.last), LOOK_AGAIN_MS).unref()
      return true
    } catch (error) {
      this.#o.log.warn({ err: error, accid: device.accid }, 'reading a dead node\u2019s inbox failed: a new session')
      session.takeEvents([])
      return false
    }
  }

  /** Events a sender appended to the dead node's inbox just before presence named this node. */
  async #lookAgain(session: Session, node: string, last: string): Promise<void> {
    if (session.movedTo !== undefined || !this.#o.isHeld(session)) return
    const device = { appKey: session.appKey, accid: session.accid, deviceId: session.deviceId }
    try {
      const late = await this.#o.cluster.missedIn(node, last, device, true)
      if (!this.#o.isHeld(session)) return
      session.takeEvents(late.events)
      if (late.ended) this.#o.onEnded(session)
    } catch (error) {
      this.#o.log.warn({ err: error, accid: device.accid }, 'looking again in a dead node\u2019s inbox failed')
    }
  }

  /** Another node took `session` over: its log takes no more from here. */
  letGo(session: Session, node: string): void {
    session.movedTo = node
    session.journal?.moved(node)
  }

  /**
   * The other live node the device of a session whose grace ran out is logged in on, if any: its
   * calls go on there and nothing ends here. Undefined too when that cannot be read.
   */
  async nodeOf(session: Session): Promise<string | undefined> {
    try {
      const placed = await this.#o.presence.devices(session.appKey, session.accid)
      const node = placed.find((d) => d.deviceId === session.deviceId)?.node
      if (node === undefined || node === this.#o.nodeId) return undefined
      return (await nodeAlive(this.#o.link, node)) ? node : undefined
    } catch (error) {
      this.#o.log.warn({ err: error, accid: session.accid }, 'could not tell where a departed device went')
      return undefined
    }
  }

  /** Every heartbeat: the logs of this node's sessions live on. */
  refresh(sessions: readonly Session[]): Promise<void> {
    return this.#o.sessions.refresh(sessions)
  }

  /** A frame numbered after another node took the session: an event goes on to the device there. */
  readonly #fenced = (ref: LoggedSession, owner: string, text: string, origin: string | undefined): void => {
    this.#o.onMoved({
      appKey: ref.appKey,
      accid: ref.accid,
      deviceId: ref.deviceId,
      sessionId: ref.sessionId,
      node: owner,
    })
    const frame = JSON.parse(text) as { type: string; name?: string; data?: unknown }
    if (frame.type !== 'event') return
    const event = { name: frame.name, data: frame.data } as ServerEvent
    this.#o.cluster.forward(ref.appKey, { accid: ref.accid, deviceId: ref.deviceId }, event, origin)
  }
}

function requestIdOf(text: string): string | undefined {
  const frame = JSON.parse(text) as { type?: string; id?: unknown }
  return frame.type !== 'event' && typeof frame.id === 'string' ? frame.id : undefined
}
