import type { DeviceRef, ServerEvent } from '@ringkit/protocol'
import type { EventDelivery } from '../calls/ports.ts'
import type { Audience } from '../calls/types.ts'
import type { Session } from './Session.ts'

/**
 * The devices logged in to this node, by account. It is the engine's `EventDelivery` for one node
 * (an event for an account reaches each of its devices), and what `ClusterDelivery` hands this
 * node's share of an event to.
 */
export class SessionRegistry implements EventDelivery {
  readonly #byAccount = new Map<string, Map<string, Session>>()
  #count = 0

  add(session: Session): void {
    const k = key(session.appKey, session.accid)
    let devices = this.#byAccount.get(k)
    if (!devices) this.#byAccount.set(k, (devices = new Map()))
    if (!devices.has(session.deviceId)) this.#count++
    devices.set(session.deviceId, session)
  }

  remove(session: Session): boolean {
    const k = key(session.appKey, session.accid)
    const devices = this.#byAccount.get(k)
    if (devices?.get(session.deviceId) !== session) return false
    devices.delete(session.deviceId)
    this.#count--
    if (devices.size === 0) this.#byAccount.delete(k)
    return true
  }

  get(appKey: string, accid: string, deviceId: string): Session | undefined {
    return this.#byAccount.get(key(appKey, accid))?.get(deviceId)
  }

  devicesOf(appKey: string, accid: string): Session[] {
    return [...(this.#byAccount.get(key(appKey, accid))?.values() ?? [])]
  }

  /** What every session's outbox keeps, in bytes. */
  get heldBytes(): number {
    let bytes = 0
    for (const devices of this.#byAccount.values()) for (const session of devices.values()) bytes += session.heldBytes
    return bytes
  }

  get size(): number {
    return this.#count
  }

  send(appKey: string, to: Audience, event: ServerEvent): void {
    const data = JSON.stringify(event.data)
    if ('device' in to) {
      this.get(appKey, to.device.accid, to.device.deviceId)?.event(event, data)
      return
    }
    for (const session of this.#byAccount.get(key(appKey, to.account))?.values() ?? []) {
      if (session.deviceId !== to.exceptDevice) session.event(event, data)
    }
  }

  /**
   * This node's devices: right for one node alone. A cluster asks presence instead
   * (`ClusterDelivery`), since no device here does not mean none anywhere.
   */
  async onlineDevices(appKey: string, accid: string): Promise<DeviceRef[]> {
    return this.devicesOf(appKey, accid).map((s) => ({ accid: s.accid, deviceId: s.deviceId }))
  }

  all(): Session[] {
    return [...this.#byAccount.values()].flatMap((devices) => [...devices.values()])
  }
}

const key = (appKey: string, accid: string) => `${appKey}\u0000${accid}`
