import type { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { DeviceRef, ServerEvent } from '@ringkit/protocol'
import type { EventDelivery } from '../calls/ports.ts'
import type { Audience } from '../calls/types.ts'
import type { Presence, PresentDevice } from '../signal/presence.ts'
import type { Session } from '../signal/Session.ts'
import type { SessionRegistry } from '../signal/SessionRegistry.ts'
import { NODE_TTL_MS, nodeAlive, nodeRun } from './nodes.ts'
import type { RedisLink } from './redis.ts'

/**
 * Events for devices on other nodes ride a Redis stream per node, `inbox:{nodeId}`: one ordered log
 * that its node reads from the last position it read, so a blink of its connection loses nothing.
 * Bounded and expiring, so that the inbox of a node that died neither grows nor stays forever.
 */
export const INBOX_MAX_ENTRIES = 10_000
export const INBOX_TTL_MS = 10 * 60_000
/** At most half the link's command timeout, so a blocking read is never taken for a Redis that is gone. */
const READ_BLOCK_MS = 1_000
/** How long a node's heartbeat, once seen, counts as alive without asking again: well below its TTL. */
const ALIVE_CACHE_MS = 1_000
const READ_COUNT = 500
const RETRY_MS = 500
/** How often a node waiting for another's answer to `holds` looks for it. */
const ANSWER_POLL_MS = 15
/** How often, once a node is slow to answer `holds`, its heartbeat is looked at. */
const LAPSE_POLL_MS = 250
/** Inbox entries read at a time when a node takes a session over from a dead one. */
const MISSED_PAGE = 1_000

export type KickReason = 'revoked' | 'otherLogin'

/** What one node hands another: an event for some of its devices, or a kick of an account's devices. */
type InboxEntry =
  /**
   * `devices`: for an account, the devices that presence placed on the node when it was sent.
   * `origin`: set on an event carried on from a session that moved, the entry it first came from.
   */
  | { kind: 'event'; appKey: string; to: Audience; event: ServerEvent; devices?: string[]; origin?: string }
  | { kind: 'kick'; appKey: string; accid: string; reason: KickReason; exceptDevice?: string }
  /** The device logged in on another node: its session on this one is replaced. */
  | { kind: 'replace'; appKey: string; accid: string; deviceId: string }
  /** The device resumed its session on another node, which took it over: nothing ends. */
  | { kind: 'moved'; appKey: string; accid: string; deviceId: string; sessionId: string; node: string }
  /** Does this node still hold the session? Answered at `answer:{token}`, after every entry before it. */
  | { kind: 'holds'; appKey: string; accid: string; deviceId: string; sessionId: string; token: string }
  /** Where a run of the node began reading: every cursor into the inbox names a real entry. */
  | { kind: 'start' }

/** Whether a node holds a session: `silent` when it neither answered nor stopped beating in time. */
export type Holding = 'yes' | 'no' | 'silent'

/** What a dead node's inbox held for one device after a cursor. */
export interface Missed {
  /** False when the inbox no longer reaches back to the cursor: some events may be gone. */
  whole: boolean
  /** The device's events, each with the entry it came from. */
  events: { event: ServerEvent; origin: string }[]
  /** The device was kicked or replaced meanwhile: its session is over. */
  ended: boolean
  /** The last entry read: where to look again from. */
  last: string
}
export interface ClusterDeliveryOptions {
  link: RedisLink
  nodeId: string
  registry: SessionRegistry
  presence: Presence
  log: Logger
  /** A hop to another node's inbox failed: the event is not delivered there. */
  onLost?: () => void
}

/**
 * The engine's `EventDelivery` for a cluster. Devices on this node get events at once; a device on
 * another node gets them through that node's inbox. Which node holds a device is read from
 * presence, never inferred from this node's sessions: no device here is not "offline".
 *
 * `send` is synchronous for the engine; the hops run in a chain per account, so that events from
 * this node to one device leave (and, one stream per target node, arrive) in the order sent.
 */
export class ClusterDelivery implements EventDelivery {
  readonly #o: ClusterDeliveryOptions
  readonly #chains = new Map<string, Promise<void>>()
  /** Other nodes seen alive, and until when that is believed. */
  readonly #alive = new Map<string, number>()
  #onKick: (appKey: string, accid: string, reason: KickReason, exceptDevice?: string) => void = () => {}
  #onReplace: (appKey: string, accid: string, deviceId: string) => void = () => {}
  #onMoved: (moved: Moved) => void = () => {}
  #reader: Redis | undefined
  #position: string | undefined
  #closed = false

  constructor(options: ClusterDeliveryOptions) {
    this.#o = options
  }

  /** Where kicks that other nodes send land: the gateway's local `kickAccount`. */
  onKick(handler: (appKey: string, accid: string, reason: KickReason, exceptDevice?: string) => void): void {
    this.#onKick = handler
  }

  /** Where replacements that other nodes send land: the gateway's local `replacedElsewhere`. */
  onReplace(handler: (appKey: string, accid: string, deviceId: string) => void): void {
    this.#onReplace = handler
  }

  /** Where takeovers that other nodes send land: the gateway's `movedElsewhere`. */
  onMoved(handler: (moved: Moved) => void): void {
    this.#onMoved = handler
  }

  /** Tells the node that held the session that this node took it over. */
  movedOn(node: string, moved: Omit<Moved, 'node'>): Promise<void> {
    const entry: InboxEntry = { kind: 'moved', ...moved, node: this.#o.nodeId }
    return this.#chain(moved.appKey, moved.accid, async () => void (await this.#append(node, entry)))
  }

  /**
   * An event a session here numbered after another node took it over: it goes on to the node
   * that presence names for the device now, in order with the account's other hops.
   */
  forward(appKey: string, device: DeviceRef, event: ServerEvent, origin: string | undefined): void {
    void this.#chain(appKey, device.accid, async () => {
      const placed = await this.#placed(appKey, device.accid, true)
      const nodes = remoteNodes(placed, { device }, this.#o.nodeId, () => false)
      const entry: InboxEntry = { kind: 'event', appKey, to: { device }, event, ...(origin ? { origin } : {}) }
      await Promise.all([...nodes.keys()].map((node) => this.#append(node, entry)))
    })
  }

  /**
   * Whether `node` still holds the session, answered by that node after everything already in its
   * inbox: then every event sent to the device through it is in the session's log, or will be
   * carried on from there. `no` too when the node is dead or was started again (its heartbeat
   * lapsed, or names another run): what it did not number is still in its inbox. A node that is
   * slow to answer is given until its heartbeat would lapse; `silent` past that, and when Redis
   * cannot be asked.
   */
  async holds(node: string, session: Omit<Moved, 'node'>, answerMs: number): Promise<Holding> {
    const token = randomUUID()
    const key = answerKey(token)
    try {
      const run = await nodeRun(this.#o.link, node)
      if (run === undefined) return 'no'
      await this.#append(node, { kind: 'holds', ...session, token })
      const started = Date.now()
      let lookedAt = started
      while (Date.now() < started + answerMs + NODE_TTL_MS) {
        const answer = await this.#o.link.run((r) => r.get(key))
        if (answer !== null) return answer === '1' ? 'yes' : 'no'
        if (Date.now() >= started + answerMs && Date.now() >= lookedAt + LAPSE_POLL_MS) {
          lookedAt = Date.now()
          if ((await nodeRun(this.#o.link, node)) !== run) return 'no'
        }
        await new Promise((resolve) => setTimeout(resolve, ANSWER_POLL_MS))
      }
      return 'silent'
    } catch (error) {
      this.#o.log.warn({ err: error, node }, 'could not ask a node whether it holds a session')
      return 'silent'
    }
  }

  /**
   * The events for `device` in `node`'s inbox after `cursor`. Whole only when the inbox still holds
   * the cursor's entry: then nothing between was trimmed. `again`: the cursor is where an earlier
   * read ended (senders that read presence before the move appended after it), so it is whole.
   */
  async missedIn(node: string, cursor: string, device: DeviceRef & { appKey: string }, again = false): Promise<Missed> {
    const missed: Missed = { whole: again, events: [], ended: false, last: cursor }
    const key = inboxKey(node)
    for (let first = true; ; first = false) {
      // A first read takes the cursor's own entry too: the proof that the inbox reaches back to it.
      const start = first && !again ? cursor : `(${missed.last}`
      const page = await this.#o.link.run((r) => r.xrange(key, start, '+', 'COUNT', MISSED_PAGE))
      if (first && !again) missed.whole = page[0]?.[0] === cursor
      for (const [id, fields] of page) {
        if (id === cursor) continue
        missed.last = id
        const entry = parseEntry(fields)
        if (entry) collect(missed, node, id, entry, device)
      }
      if (page.length < MISSED_PAGE) return missed
    }
  }

  /** The last entry of this node's inbox read so far: what a session's frames account for. */
  get position(): string | undefined {
    return this.#position
  }

  /** Tells `node` that the device logged in here: in order with the account's events this node sends. */
  replaceOn(node: string, appKey: string, accid: string, deviceId: string): Promise<void> {
    const entry: InboxEntry = { kind: 'replace', appKey, accid, deviceId }
    return this.#chain(appKey, accid, async () => void (await this.#append(node, entry)))
  }

  send(appKey: string, to: Audience, event: ServerEvent): void {
    const { registry } = this.#o
    registry.send(appKey, to, event)
    // A device with a session here has just been given the event: connected, or in its session's
    // log for a resume on any node (and carried on from here if another node took it over).
    const accid = 'device' in to ? to.device.accid : to.account
    const held = (deviceId: string) => registry.get(appKey, accid, deviceId) !== undefined
    if ('device' in to && held(to.device.deviceId)) return
    void this.#chain(appKey, accid, async () => {
      // A dead node's devices too, and this node's without a session here (an earlier run of it
      // placed them): the event waits in that inbox for the node that takes the session over.
      const placed = await this.#placed(appKey, accid, true)
      const nodes = remoteNodes(placed, to, this.#o.nodeId, held, true)
      await Promise.all(
        [...nodes].map(([node, devices]) =>
          this.#append(node, { kind: 'event', appKey, to, event, ...('device' in to ? {} : { devices }) }),
        ),
      )
    })
  }

  /** The account's devices on every node whose heartbeat is alive. */
  async onlineDevices(appKey: string, accid: string): Promise<DeviceRef[]> {
    return (await this.#placed(appKey, accid)).map(({ deviceId }) => ({ accid, deviceId }))
  }

  /**
   * Kicks the account's devices on the other nodes (this node's are the caller's to kick). Resolves
   * once the kick is in their inboxes, or its failure logged; never rejects.
   */
  kickElsewhere(appKey: string, accid: string, reason: KickReason, exceptDevice?: string): Promise<void> {
    return this.#chain(appKey, accid, () => this.#kick(appKey, accid, reason, exceptDevice))
  }

  /**
   * A revoke's kick of the account's devices on the other nodes. Rejects when a kick could not be
   * appended: that node's devices would stay logged in, so the revoke must not answer that it held.
   */
  async revokeElsewhere(appKey: string, accid: string): Promise<void> {
    let failed: { error: unknown } | undefined
    await this.#chain(appKey, accid, () =>
      this.#kick(appKey, accid, 'revoked').catch((error: unknown) => {
        failed = { error }
      }),
    )
    if (failed) throw failed.error
  }

  /**
   * Every node that presence names is told, its heartbeat alive or not: a node whose beats stopped
   * for a few seconds (its Redis link blinked) keeps its sessions and reads its inbox on from where
   * it was, so it kicks them once back. A dead node's inbox expires unread.
   */
  async #kick(appKey: string, accid: string, reason: KickReason, exceptDevice?: string): Promise<void> {
    const nodes = new Set((await this.#o.presence.devices(appKey, accid)).map((d) => d.node))
    nodes.delete(this.#o.nodeId)
    const entry: InboxEntry = { kind: 'kick', appKey, accid, reason, ...(exceptDevice ? { exceptDevice } : {}) }
    await Promise.all([...nodes].map((node) => this.#append(node, entry)))
  }

  /**
   * Starts reading this node's inbox, from its current end: what was left there by an earlier run
   * under the same name was for sessions that are gone.
   */
  async start(): Promise<void> {
    this.#reader = this.#o.link.duplicate()
    const timeout = this.#reader.options.commandTimeout
    const blockMs = timeout ? Math.max(10, Math.min(READ_BLOCK_MS, Math.floor(timeout / 2))) : READ_BLOCK_MS
    // Where to start is found by the reading loop: a node starting while Redis is away starts all
    // the same (not ready, /readyz says so) and begins reading once Redis answers.
    void this.#read(undefined, blockMs)
  }

  /** Waits for the hops still on their way (with the link's deadline each), and stops reading. */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(this.#chains.values())
    this.#reader?.disconnect()
  }

  async #read(from: string | undefined, blockMs: number): Promise<void> {
    let last = from
    let failing = false
    while (!this.#closed && this.#reader) {
      try {
        const key = inboxKey(this.#o.nodeId)
        if (last === undefined) {
          last = (await this.#append(this.#o.nodeId, { kind: 'start' })) ?? undefined
          this.#position = last
          if (last === undefined) throw new Error('the inbox took no start entry')
        }
        const batch = await this.#reader.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', key, last)
        failing = false
        for (const [id, fields] of batch?.[0]?.[1] ?? []) {
          // Before the entry is handled: the frames it makes account for it.
          this.#position = last = id
          this.#receive(id, fields)
        }
      } catch (error) {
        if (this.#closed) return
        if (!failing) this.#o.log.warn({ err: error }, 'reading this node\u2019s inbox failed: retrying')
        failing = true
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref())
      }
    }
  }

  #receive(id: string, fields: string[]): void {
    const entry = parseEntry(fields)
    if (!entry) return this.#o.log.error('an inbox entry is not JSON: skipped')
    if (entry.kind === 'event') this.#deliver(entry, `${this.#o.nodeId}/${id}`)
    else if (entry.kind === 'moved') this.#onMoved(entry)
    else if (entry.kind === 'kick') this.#onKick(entry.appKey, entry.accid, entry.reason, entry.exceptDevice)
    else if (entry.kind === 'replace') this.#onReplace(entry.appKey, entry.accid, entry.deviceId)
    else if (entry.kind === 'holds') this.#answer(entry)
  }

  #answer({ appKey, accid, deviceId, sessionId, token }: Extract<InboxEntry, { kind: 'holds' }>): void {
    const held = this.#o.registry.get(appKey, accid, deviceId)
    const holds = held?.sessionId === sessionId && held.movedTo === undefined
    void this.#o.link
      .run((r) => r.set(answerKey(token), holds ? '1' : '0', 'PX', ANSWER_TTL_MS))
      .catch((error: unknown) => this.#o.log.warn({ err: error }, 'could not answer whether a session is held here'))
  }

  /**
   * An account's event goes to the devices it was sent for: one that presence placed elsewhere by
   * then, but whose session here was not yet let go of, hears it from there alone. An event carried
   * on from a session that moved is dropped by a session that already took it from a dead inbox.
   */
  #deliver({ appKey, to, event, devices, origin = '' }: Extract<InboxEntry, { kind: 'event' }>, id: string): void {
    const { registry } = this.#o
    const data = JSON.stringify(event.data)
    // The entry itself may have been taken too: this node took over a session of its earlier run.
    const from = origin || id
    const give = (session: Session | undefined) => {
      if (session && !session.tookOrigin(from)) session.event(event, data, from)
    }
    if ('device' in to) return give(registry.get(appKey, to.device.accid, to.device.deviceId))
    if (!devices) {
      for (const session of registry.devicesOf(appKey, to.account))
        if (session.deviceId !== to.exceptDevice) give(session)
      return
    }
    for (const deviceId of devices) give(registry.get(appKey, to.account, deviceId))
  }

  /** The account's devices whose node is alive, or (`withDead`) wherever presence places them. */
  async #placed(appKey: string, accid: string, withDead = false): Promise<PresentDevice[]> {
    const devices = await this.#o.presence.devices(appKey, accid)
    if (withDead) return devices
    const nodes = [...new Set(devices.map((d) => d.node))]
    const alive = new Set<string>()
    await Promise.all(nodes.map(async (node) => (await this.#isAlive(node)) && alive.add(node)))
    return devices.filter((d) => alive.has(d.node))
  }

  async #isAlive(node: string): Promise<boolean> {
    if (node === this.#o.nodeId) return true
    const now = Date.now()
    if ((this.#alive.get(node) ?? 0) > now) return true
    if (!(await nodeAlive(this.#o.link, node))) {
      this.#alive.delete(node)
      return false
    }
    this.#alive.set(node, now + ALIVE_CACHE_MS)
    return true
  }

  /** Resolves the entry's id. */
  async #append(node: string, entry: InboxEntry): Promise<string | null> {
    const key = inboxKey(node)
    const answers = await this.#o.link.run((r) =>
      r
        .multi()
        .xadd(key, 'MAXLEN', '~', INBOX_MAX_ENTRIES, '*', 'e', JSON.stringify(entry))
        .pexpire(key, INBOX_TTL_MS)
        .exec(),
    )
    const [error, id] = answers?.[0] ?? [null, null]
    if (error) throw error
    return (id as string | null) ?? null
  }

  /**
   * Runs `hop` after the account's previous hops: one chain per account keeps its events in order
   * without one slow account holding up the rest. A failure is logged and counted; the device
   * learns what it missed when it resumes or reconnects.
   */
  #chain(appKey: string, accid: string, hop: () => Promise<void>): Promise<void> {
    const k = `${appKey}\u0000${accid}`
    const next = (this.#chains.get(k) ?? Promise.resolve()).then(hop).catch((error: unknown) => {
      this.#o.onLost?.()
      this.#o.log.warn({ err: error, accid }, 'an event for a device on another node was not delivered')
    })
    this.#chains.set(k, next)
    void next.then(() => {
      if (this.#chains.get(k) === next) this.#chains.delete(k)
    })
    return next
  }
}

/**
 * The nodes other than this one that hold a device of the audience, each with those devices; a
 * device with a session here (`heldHere`) is this node's to give the event to, wherever it resumes.
 * `orphansHere`: a device placed on this node without a session here counts this node among them.
 */
function remoteNodes(
  devices: PresentDevice[],
  to: Audience,
  self: string,
  heldHere: (deviceId: string) => boolean,
  orphansHere = false,
): Map<string, string[]> {
  const nodes = new Map<string, string[]>()
  for (const d of devices) {
    if (heldHere(d.deviceId) || (d.node === self && !orphansHere)) continue
    if ('device' in to ? d.deviceId !== to.device.deviceId : d.deviceId === to.exceptDevice) continue
    const listed = nodes.get(d.node)
    if (listed) listed.push(d.deviceId)
    else nodes.set(d.node, [d.deviceId])
  }
  return nodes
}

function parseEntry(fields: string[]): InboxEntry | undefined {
  try {
    return JSON.parse(fields[1] ?? '') as InboxEntry
  } catch {
    return undefined
  }
}

/** Adds to `missed` what entry `id` of `node`'s inbox means for `device`. */
function collect(missed: Missed, node: string, id: string, entry: InboxEntry, device: DeviceRef & { appKey: string }) {
  if (!('appKey' in entry) || entry.appKey !== device.appKey) return
  if (entry.kind === 'kick') {
    if (entry.accid === device.accid && entry.exceptDevice !== device.deviceId) missed.ended = true
  } else if (entry.kind === 'replace') {
    if (entry.accid === device.accid && entry.deviceId === device.deviceId) missed.ended = true
  } else if (entry.kind === 'event' && reaches(entry, device)) {
    missed.events.push({ event: entry.event, origin: entry.origin ?? `${node}/${id}` })
  }
}

function reaches({ to, devices }: Extract<InboxEntry, { kind: 'event' }>, device: DeviceRef): boolean {
  if ('device' in to) return to.device.accid === device.accid && to.device.deviceId === device.deviceId
  if (to.account !== device.accid || to.exceptDevice === device.deviceId) return false
  return !devices || devices.includes(device.deviceId)
}

/** A device's session moved from this node to `node`. */
export interface Moved {
  appKey: string
  accid: string
  deviceId: string
  sessionId: string
  node: string
}

const inboxKey = (nodeId: string) => `inbox:{${nodeId}}`
const answerKey = (token: string) => `answer:{${token}}`
const ANSWER_TTL_MS = 10_000
