import type { Logger } from 'pino'
import { RingKitError } from '@ringkit/protocol'
import type { App } from '../store/types.ts'
import type { SessionRegistry } from './SessionRegistry.ts'

/** A device holding a slot: on which node it is logged in. */
export interface PresentDevice {
  deviceId: string
  node: string
}

export interface PresenceEntry {
  appKey: string
  accid: string
  deviceId: string
}

/** `added`: the device took a free slot; `refreshed`: it held one already; `full`: none left. */
export type ClaimResult = 'added' | 'refreshed' | 'full'

/**
 * Which device of an account is logged in on which node, for the whole cluster. Each entry lives
 * `lifetimeMs` unless its node refreshes it, so the devices of a node that died stop counting by
 * themselves: nothing here trusts one node's view of who is absent.
 */
export interface Presence {
  /**
   * Takes a slot for the device on `node`, atomically: a device that holds one already (a login
   * again, a move to another node) refreshes it and never counts twice; otherwise it is refused
   * once the account has `max` live devices (`undefined`: no cap).
   */
  claim(appKey: string, accid: string, deviceId: string, node: string, max: number | undefined): Promise<ClaimResult>
  /** Frees the device's slot if `node` holds it: a node the device moved away from cannot free it. */
  release(appKey: string, accid: string, deviceId: string, node: string): Promise<boolean>
  /**
   * Keeps the entries of `node`'s devices alive. An entry that expired meanwhile (Redis was out of
   * reach) comes back, cap or not: the device is logged in. One held by another node is left alone.
   */
  refresh(node: string, entries: readonly PresenceEntry[]): Promise<void>
  /** The account's live devices and their nodes. */
  devices(appKey: string, accid: string): Promise<PresentDevice[]>
}

export interface PresenceOptions {
  /** How long an entry lives without a refresh. */
  lifetimeMs: number
  now?: () => number
}

/** Presence for one node, in its memory. */
export function memoryPresence(options: PresenceOptions): Presence {
  const now = options.now ?? Date.now
  const accounts = new Map<string, Map<string, { node: string; expiresAt: number }>>()
  const live = (appKey: string, accid: string) => {
    const k = accountKey(appKey, accid)
    const devices = accounts.get(k) ?? new Map<string, { node: string; expiresAt: number }>()
    const at = now()
    for (const [deviceId, entry] of devices) if (entry.expiresAt <= at) devices.delete(deviceId)
    if (devices.size === 0) accounts.delete(k)
    return { devices, keep: () => accounts.set(k, devices), at }
  }
  return {
    async claim(appKey, accid, deviceId, node, max) {
      const { devices, keep, at } = live(appKey, accid)
      const held = devices.has(deviceId)
      if (!held && max !== undefined && devices.size >= max) return 'full'
      devices.set(deviceId, { node, expiresAt: at + options.lifetimeMs })
      keep()
      return held ? 'refreshed' : 'added'
    },
    async release(appKey, accid, deviceId, node) {
      const { devices } = live(appKey, accid)
      if (devices.get(deviceId)?.node !== node) return false
      devices.delete(deviceId)
      if (devices.size === 0) accounts.delete(accountKey(appKey, accid))
      return true
    },
    async refresh(node, entries) {
      for (const { appKey, accid, deviceId } of entries) {
        const { devices, keep, at } = live(appKey, accid)
        const holder = devices.get(deviceId)?.node
        if (holder !== undefined && holder !== node) continue
        devices.set(deviceId, { node, expiresAt: at + options.lifetimeMs })
        keep()
      }
    },
    async devices(appKey, accid) {
      return [...live(appKey, accid).devices].map(([deviceId, { node }]) => ({ deviceId, node }))
    },
  }
}

const accountKey = (appKey: string, accid: string) => `${appKey}\u0000${accid}`

export interface DeviceSlotsOptions {
  presence: Presence
  node: string
  registry: SessionRegistry
  devicesPerAccount: number
  log: Logger
  /** The account's last device went away: when its missed calls start counting. Never rejects. */
  onAccountOffline?: (appKey: string, accid: string) => Promise<void>
}

/**
 * The per-account device cap, counted in `Presence` so that it holds across nodes. The gateway
 * claims before a new session registers and releases when a session ends for good.
 */
export class DeviceSlots {
  readonly #o: DeviceSlotsOptions
  #closed = false

  constructor(options: DeviceSlotsOptions) {
    this.#o = options
  }

  get node(): string {
    return this.#o.node
  }

  /**
   * A slot for a device with no session on this node (one with a session here holds its slot
   * already, so a resume needs no round trip). Resolves whether this login added it, so that a
   * login failing afterwards gives back only what it took, and which other node held the device's
   * slot until now, so that its session there can be replaced as one here would be. Refuses with
   * TOO_MANY_DEVICES, or CLUSTER_UNAVAILABLE when the count cannot be read: a cap that cannot
   * count does not let in.
   */
  async claim(app: App, accid: string, deviceId: string): Promise<{ added: boolean; movedFrom?: string }> {
    const { presence, node, devicesPerAccount } = this.#o
    const max = app.multiDevice ? devicesPerAccount : undefined
    const before = (await presence.devices(app.appKey, accid)).find((d) => d.deviceId === deviceId)?.node
    const claimed = await presence.claim(app.appKey, accid, deviceId, node, max)
    if (claimed === 'full')
      throw new RingKitError('TOO_MANY_DEVICES', `at most ${devicesPerAccount} devices per account`)
    return { added: claimed === 'added', ...(before !== undefined && before !== node ? { movedFrom: before } : {}) }
  }

  /** A login that claimed and then failed: its slot goes back, unless a session of the device took it meanwhile. */
  abandon(appKey: string, accid: string, deviceId: string): void {
    if (!this.#o.registry.get(appKey, accid, deviceId)) void this.release(appKey, accid, deviceId)
  }

  /** The device's session ended for good. Never rejects: without Redis the slot expires, unrefreshed. */
  async release(appKey: string, accid: string, deviceId: string): Promise<void> {
    if (this.#closed) return
    try {
      await this.#o.presence.release(appKey, accid, deviceId, this.#o.node)
      if (this.#o.onAccountOffline && (await this.#o.presence.devices(appKey, accid)).length === 0) {
        await this.#o.onAccountOffline(appKey, accid)
      }
    } catch (error) {
      this.#o.log.warn({ err: error, accid }, 'freeing a device slot failed: it expires by itself')
    }
  }

  /** Whether a device of the account other than `deviceId` is online, on any node. */
  async othersOnline(appKey: string, accid: string, deviceId: string): Promise<boolean> {
    return (await this.#o.presence.devices(appKey, accid)).some((d) => d.deviceId !== deviceId)
  }

  /** Every heartbeat: the slots of every session on this node, resumable ones included. */
  async refresh(): Promise<void> {
    if (this.#closed) return
    const entries = this.#o.registry.all().map(({ appKey, accid, deviceId }) => ({ appKey, accid, deviceId }))
    await this.#o.presence.refresh(this.#o.node, entries)
  }

  /** The node stops: its slots are neither refreshed nor freed, and expire as a dead node's do. */
  close(): void {
    this.#closed = true
  }
}
