import type { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { DeviceRef, ServerEvent } from '@ringkit/protocol'
import type { EventDelivery } from '../calls/ports.ts'
import type { Audience } from '../calls/types.ts'
import type { Presence, PresentDevice } from '../signal/presence.ts'
import type { SessionRegistry } from '../signal/SessionRegistry.ts'
import { nodeAlive } from './nodes.ts'
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

export type KickReason = 'revoked' | 'otherLogin'

/** What one node hands another: an event for some of its devices, or a kick of an account's devices. */
type InboxEntry =
  /** `devices`: for an account, the devices that presence placed on the node when it was sent. */
  | { kind: 'event'; appKey: string; to: Audience; event: ServerEvent; devices?: string[] }
  | { kind: 'kick'; appKey: string; accid: string; reason: KickReason; exceptDevice?: string }
  /** The device logged in on another node: its session on this one is replaced. */
  | { kind: 'replace'; appKey: string; accid: string; deviceId: string }
  /** The device resumed its session on another node, which took it over: nothing ends. */
  | { kind: 'moved'; appKey: string; accid: string; deviceId: string; sessionId: string; node: string }
  /** Does this node still hold the session? Answered at `answer:{token}`, after every entry before it. */
  | { kind: 'holds'; appKey: string; accid: string; deviceId: string; sessionId: string; token: string }

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
    return this.#chain(moved.appKey, moved.accid, () => this.#append(node, entry))
  }

  /**
   * An event a session here numbered after another node took it over: it goes on to the node
   * that presence names for the device now, in order with the account's other hops.
   */
  forward(appKey: string, device: DeviceRef, event: ServerEvent): void {
    void this.#chain(appKey, device.accid, async () => {
      const nodes = remoteNodes(await this.#placed(appKey, device.accid), { device }, this.#o.nodeId, () => false)
      await Promise.all(
        [...nodes.keys()].map((node) => this.#append(node, { kind: 'event', appKey, to: { device }, event })),
      )
    })
  }

  /**
   * Whether `node` is alive and still holds the session, answered by that node after everything
   * already in its inbox: then every event sent to the device through it is in the session's log,
   * or will be carried on from there. False past `timeoutMs`: a node that died (even one started
   * again under the same name) took some of the device's events with it.
   */
  async holds(node: string, session: Omit<Moved, 'node'>, timeoutMs: number): Promise<boolean> {
    const token = randomUUID()
    const key = answerKey(token)
    try {
      await this.#append(node, { kind: 'holds', ...session, token })
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
        const answer = await this.#o.link.run((r) => r.get(key))
        if (answer !== null) return answer === '1'
        await new Promise((resolve) => setTimeout(resolve, ANSWER_POLL_MS))
      }
      return false
    } catch (error) {
      this.#o.log.warn({ err: error, node }, 'could not ask a node whether it holds a session')
      return false
    }
  }

  /** Tells `node` that the device logged in here: in order with the account's events this node sends. */
  replaceOn(node: string, appKey: string, accid: string, deviceId: string): Promise<void> {
    return this.#chain(appKey, accid, () => this.#append(node, { kind: 'replace', appKey, accid, deviceId }))
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
      const nodes = remoteNodes(await this.#placed(appKey, accid), to, this.#o.nodeId, held)
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
        last ??= (await this.#reader.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0'
        const batch = await this.#reader.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', key, last)
        failing = false
        for (const [id, fields] of batch?.[0]?.[1] ?? []) {
          last = id
          this.#receive(fields)
        }
      } catch (error) {
        if (this.#closed) return
        if (!failing) this.#o.log.warn({ err: error }, 'reading this node\u2019s inbox failed: retrying')
        failing = true
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref())
      }
    }
  }

  #receive(fields: string[]): void {
    let entry: InboxEntry
    try {
      entry = JSON.parse(fields[1] ?? '') as InboxEntry
    } catch (error) {
      this.#o.log.error({ err: error }, 'an inbox entry is not JSON: skipped')
      return
    }
    if (entry.kind === 'event') this.#deliver(entry)
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
   * then, but whose session here was not yet let go of, hears it from there alone.
   */
  #deliver({ appKey, to, event, devices }: Extract<InboxEntry, { kind: 'event' }>): void {
    if ('device' in to || !devices) return this.#o.registry.send(appKey, to, event)
    const data = JSON.stringify(event.data)
    for (const deviceId of devices) this.#o.registry.get(appKey, to.account, deviceId)?.event(event, data)
  }

  async #placed(appKey: string, accid: string): Promise<PresentDevice[]> {
    const devices = await this.#o.presence.devices(appKey, accid)
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

  async #append(node: string, entry: InboxEntry): Promise<void> {
    const key = inboxKey(node)
    await this.#o.link.run((r) =>
      r
        .multi()
        .xadd(key, 'MAXLEN', '~', INBOX_MAX_ENTRIES, '*', 'e', JSON.stringify(entry))
        .pexpire(key, INBOX_TTL_MS)
        .exec(),
    )
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
 */
function remoteNodes(
  devices: PresentDevice[],
  to: Audience,
  self: string,
  heldHere: (deviceId: string) => boolean,
): Map<string, string[]> {
  const nodes = new Map<string, string[]>()
  for (const d of devices) {
    if (d.node === self || heldHere(d.deviceId)) continue
    if ('device' in to ? d.deviceId !== to.device.deviceId : d.deviceId === to.exceptDevice) continue
    const listed = nodes.get(d.node)
    if (listed) listed.push(d.deviceId)
    else nodes.set(d.node, [d.deviceId])
  }
  return nodes
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
