import type { CallRecord, DeviceRef, ServerEvent, SfuClientMessage, SfuPublishResult } from '@ringkit/protocol'
import type { Audience, CallState } from './types.ts'
import type { NewWebhookEvent } from '../webhooks/events.ts'

/** A call's live state as kept, with the version that the next write of it must name. */
export interface KeptCall {
  state: CallState
  version: number
}

/**
 * Where live call state lives, and which account is in which call (for busy detection). In memory
 * for one node; a shared store (Redis) lets several nodes run one app.
 *
 * Writes are compare-and-set on the version the writer read, so of two nodes acting on one call at
 * once exactly one writes; the other reads again and decides again. A busy claim counts only while
 * its call's state is kept: a node that dies between ending a call and releasing its accounts
 * leaves no account busy.
 */
export interface CallStateStore {
  get(callId: string): Promise<KeptCall | undefined>
  /**
   * Writes the state over `version` (`undefined`: a new call, written only when none is kept).
   * Resolves with the version written, or `undefined` when another write came first.
   */
  put(state: CallState, version: number | undefined): Promise<number | undefined>
  /** Forgets an ended call if it is still at `version`; false when another write came first. */
  delete(callId: string, version: number): Promise<boolean>
  /** Marks the account as in this call (whose state must be kept); false when it is in another live one. */
  claim(appKey: string, accid: string, callId: string): Promise<boolean>
  /** Frees the account if this call holds it. */
  release(appKey: string, accid: string, callId: string): Promise<void>
  /** The live call the account is in. */
  callOf(appKey: string, accid: string): Promise<string | undefined>
  /**
   * Calls whose next ringing deadline is due by `now`, at most `limit`. A shared store keeps each
   * call's deadline with its state, in the same write, so that any node fires it, its first node
   * dead or not. The memory store leaves it out: one node, whose own timers are enough.
   */
  dueCalls?(now: number, limit: number): Promise<string[]>
}

/**
 * This node among the others of a cluster: what the engine needs to take over the calls of a node
 * that died, and only of one that did.
 */
export interface ClusterNode {
  /** This node's name: the owner written in the journal rows of the calls it keeps. */
  readonly id: string
  /** Whether the node's lease (its heartbeat) is live. */
  alive(nodeId: string): Promise<boolean>
  /** Takes the lock `name` for `ms` unless it is held: of two nodes adopting one call, one does. */
  lock(name: string, ms: number): Promise<boolean>
  /** The deviceIds of the account logged in anywhere in the cluster. */
  devices(appKey: string, accid: string): Promise<string[]>
}

/** How the engine reaches devices, wherever they are connected. */
export interface EventDelivery {
  send(appKey: string, to: Audience, event: ServerEvent): void
  onlineDevices(appKey: string, accid: string): Promise<DeviceRef[]>
}

/** The media server that carries group calls (Janus, through `SfuCalls`). */
export interface GroupMediaServer {
  /** Rejects with SFU_UNAVAILABLE when no media server answers. */
  available(): Promise<void>
  /** Makes the call's room on the first answer; every later answer or join finds it made (or waits for it). */
  open(appKey: string, callId: string): Promise<void>
  /** Relays a device's media negotiation; the engine has checked the device is in the call. */
  handle(
    appKey: string,
    callId: string,
    device: DeviceRef,
    message: SfuClientMessage,
  ): Promise<SfuPublishResult | Record<string, never>>
  /** The device is out of the call. */
  leave(callId: string, device: DeviceRef): Promise<void>
  /** The call ended; never rejects. */
  close(callId: string): Promise<void>
}

/**
 * How the engine waits for ringing deadlines, paired with its `now`: a test that moves the clock by
 * hand moves this with it, so no timer of the real clock fires in between.
 */
export interface Scheduler {
  /** Runs `run` in `ms`; the returned function cancels it. Never keeps the process up. */
  after(ms: number, run: () => unknown): () => void
}

export const realScheduler: Scheduler = {
  after(ms, run) {
    const timer = setTimeout(run, ms)
    timer.unref()
    return () => clearTimeout(timer)
  },
}

export function memoryCallStateStore(): CallStateStore {
  const calls = new Map<string, KeptCall>()
  const holders = new Map<string, string>()
  const key = (appKey: string, accid: string) => `${appKey}\u0000${accid}`
  const holder = (k: string) => {
    const callId = holders.get(k)
    if (callId === undefined || calls.has(callId)) return callId
    // Its call is gone without releasing it: the claim is void.
    holders.delete(k)
    return undefined
  }
  return {
    async get(callId) {
      return calls.get(callId)
    },
    async put(state, version) {
      if (calls.get(state.callId)?.version !== version) return undefined
      const written = (version ?? 0) + 1
      calls.set(state.callId, { state, version: written })
      return written
    },
    async delete(callId, version) {
      if (calls.get(callId)?.version !== version) return false
      calls.delete(callId)
      return true
    },
    async claim(appKey, accid, callId) {
      const k = key(appKey, accid)
      const held = holder(k)
      if (held !== undefined && held !== callId) return false
      holders.set(k, callId)
      return true
    },
    async release(appKey, accid, callId) {
      const k = key(appKey, accid)
      if (holders.get(k) === callId) holders.delete(k)
    },
    async callOf(appKey, accid) {
      return holder(key(appKey, accid))
    },
  }
}

/** Where the engine tells an app backend's webhooks what happens to its calls. */
export interface CallEventSink {
  /** Queues events of a live call, numbered after its last; never rejects. */
  add(appKey: string, callId: string, events: NewWebhookEvent[]): Promise<void>
  /**
   * Whether a callee with no device online can be rung anyway: the app's backend takes
   * `call.ringing` (its own push), or the account has a Web Push subscription. Never rejects.
   */
  ringsOffline(appKey: string, accid: string): Promise<boolean>
  /** A record was written, and the events of the call's end with it. */
  recorded(appKey: string, record: CallRecord): void
}
