import type { Logger } from 'pino'
import type { ServerEvent } from '@ringkit/protocol'
import type { ClusterDelivery, Moved } from '../bus/cluster-delivery.ts'
import { nodeAlive } from '../bus/nodes.ts'
import type { RedisLink } from '../bus/redis.ts'
import type { LoggedSession, SessionLog } from '../bus/session-log.ts'
import type { Limits } from '../limits.ts'
import type { App } from '../store/types.ts'
import type { Presence } from './presence.ts'
import { Session } from './Session.ts'

/** How long the node a session is taken from has to say it still holds it. */
const HOLDS_TIMEOUT_MS = 1_000

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
}

/**
 * Sessions that outlive their node in a cluster. Each session's numbered frames also go to its log
 * in Redis (`SessionLog`); a device resuming on a node that does not hold its session is answered
 * from that log, gap-free or not at all, and the session moves there with its numbering. The node
 * it left is told to let its copy go; frames that copy numbers meanwhile (events already on their
 * way to it) are refused by the log and carried on to the device's new node.
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
  ): Promise<{ session: Session; added: boolean } | undefined> {
    const ref: LoggedSession = { appKey: app.appKey, ...device, sessionId: resume.sessionId }
    // Events on their way to a node that died are gone with it, and its log cannot show that.
    const owner = await this.#o.sessions.owner(ref)
    if (owner === undefined) return undefined
    if (owner !== this.#o.nodeId && !(await this.#o.cluster.holds(owner, ref, HOLDS_TIMEOUT_MS))) {
      this.#o.log.info(
        { accid: ref.accid, node: owner },
        'the node that held the session does not answer for it: a new session',
      )
      return undefined
    }
    const max = app.multiDevice ? this.#o.limits.devicesPerAccount : undefined
    const taken = await this.#o.sessions.takeOver(ref, resume.lastSeq, max)
    if (!taken) return undefined
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
    if (taken.previousOwner !== this.#o.nodeId) {
      void this.#o.cluster.movedOn(taken.previousOwner, {
        appKey: ref.appKey,
        accid: ref.accid,
        deviceId: ref.deviceId,
        sessionId: ref.sessionId,
      })
    }
    return { session, added: taken.added }
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
  readonly #fenced = (ref: LoggedSession, owner: string, text: string): void => {
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
    this.#o.cluster.forward(ref.appKey, { accid: ref.accid, deviceId: ref.deviceId }, event)
  }
}

function requestIdOf(text: string): string | undefined {
  const frame = JSON.parse(text) as { type?: string; id?: unknown }
  return frame.type !== 'event' && typeof frame.id === 'string' ? frame.id : undefined
}
