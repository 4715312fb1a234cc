import type { DeviceRef, ServerEvent, SfuClientMessage, SfuPublishResult } from '@ringkit/protocol'
import type { Audience, CallState } from './types.ts'

/**
 * Where live call state lives, and which account is in which call (for busy detection). In memory
 * for one node; a shared store (Redis) lets several nodes run one app.
 */
export interface CallStateStore {
  get(callId: string): Promise<CallState | undefined>
  put(state: CallState): Promise<void>
  delete(callId: string): Promise<void>
  /** Marks the account as in this call; false when it is already in another one. */
  claim(appKey: string, accid: string, callId: string): Promise<boolean>
  /** Frees the account if this call holds it. */
  release(appKey: string, accid: string, callId: string): Promise<void>
  callOf(appKey: string, accid: string): Promise<string | undefined>
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
  const calls = new Map<string, CallState>()
  const holders = new Map<string, string>()
  const key = (appKey: string, accid: string) => `${appKey}\u0000${accid}`
  return {
    async get(callId) {
      return calls.get(callId)
    },
    async put(state) {
      calls.set(state.callId, state)
    },
    async delete(callId) {
      calls.delete(callId)
    },
    async claim(appKey, accid, callId) {
      const k = key(appKey, accid)
      const holder = holders.get(k)
      if (holder !== undefined && holder !== callId) return false
      holders.set(k, callId)
      return true
    },
    async release(appKey, accid, callId) {
      const k = key(appKey, accid)
      if (holders.get(k) === callId) holders.delete(k)
    },
    async callOf(appKey, accid) {
      return holders.get(key(appKey, accid))
    },
  }
}
