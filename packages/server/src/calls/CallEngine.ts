import { randomUUID } from 'node:crypto'
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RingKitError,
  type Attachment,
  type CallType,
  type DeviceRef,
  type IceServer,
} from '@ringkit/protocol'
import type { AccountStore, CallStore } from '../store/types.ts'
import type { CallStateStore, EventDelivery } from './ports.ts'
import { KeyedQueue } from './keyed-queue.ts'
import { buildRecord } from './record.ts'
import { end, sameDevice, transition } from './transition.ts'
import type { CallInput, CallState, Effect } from './types.ts'

/** How many ringing-time negotiation messages (offer, candidates) a call keeps for late devices. */
const MAX_KEPT_SIGNALS = 64

export interface CallEngineOptions {
  store: AccountStore & CallStore
  calls: CallStateStore
  delivery: EventDelivery
  now?: () => number
  /** Told of every call that ends, for metrics and logs. */
  onEnded?: (state: Extract<CallState, { phase: 'ended' }>) => void
  onError?: (error: unknown, callId: string) => void
  /** STUN/TURN servers for a device of this account, fresh for each call. */
  iceServers?: (accid: string) => IceServer[]
}

export interface StartCall {
  to: string[]
  callType: CallType
  attachment?: Attachment | undefined
  timeoutMs?: number | undefined
}

/**
 * Performs what `transition` decides: keeps live state, runs the ringing timers, sends events and
 * writes the record exactly once. Actions on one call run one at a time.
 */
export class CallEngine {
  readonly #o: CallEngineOptions
  readonly #now: () => number
  readonly #queue = new KeyedQueue()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  /** The caller's negotiation while ringing, for callee devices that log in late. */
  readonly #ringingSignals = new Map<string, Effect['event'][]>()

  constructor(options: CallEngineOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /**
   * Starts ringing `to` from the caller's device; a busy callee ends it at once with status 5.
   * `announce` hears the callId before any event of the call is sent, so the caller's reply comes first.
   */
  async start(
    appKey: string,
    caller: DeviceRef,
    req: StartCall,
    announce: (callId: string, iceServers: IceServer[]) => void = () => {},
  ): Promise<{ callId: string }> {
    const { store, calls, delivery } = this.#o
    const callee = req.to[0]
    if (req.to.length !== 1 || callee === undefined) {
      throw new RingKitError('INVALID_PARAMS', 'a call has exactly one callee')
    }
    if (callee === caller.accid) throw new RingKitError('CALL_SELF')
    if (!(await store.hasAccount(appKey, callee))) {
      throw new RingKitError('ACCOUNT_NOT_FOUND', `no account "${callee}" in this app`)
    }
    if ((await delivery.onlineDevices(appKey, callee)).length === 0) {
      throw new RingKitError('CALLEE_OFFLINE', `"${callee}" has no device online`)
    }
    const now = this.#now()
    const callId = randomUUID()
    if (!(await calls.claim(appKey, caller.accid, callId))) throw new RingKitError('CALLER_BUSY')

    const state: CallState = {
      phase: 'ringing',
      callId,
      appKey,
      type: req.callType,
      caller,
      callees: [callee],
      isGroup: false,
      ...(req.attachment ? { attachment: req.attachment } : {}),
      createdAt: now,
      expiresAt: now + (req.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS),
      members: [{ accid: callee, status: 'ringing' }],
    }
    // Journal first: from here on a crash still leaves this call a record.
    try {
      await store.journalCall(state)
      await calls.put(state)
    } catch (error) {
      // The call never started: a caller left claimed would be refused as busy from now on.
      await calls.release(appKey, caller.accid, callId)
      throw error
    }
    announce(callId, this.#o.iceServers?.(caller.accid) ?? [])

    if (!(await calls.claim(appKey, callee, callId))) {
      const busy = { ...state, members: [{ accid: callee, status: 'busy' as const }] }
      await this.#queue.run(callId, () =>
        this.#finish(
          end(busy, 'busy', now, callee, [
            { kind: 'send', to: { device: caller }, event: { name: 'userBusy', data: { callId, accid: callee } } },
          ]),
        ),
      )
      return { callId }
    }
    this.#send(appKey, { account: callee }, this.#invite(state, callee))
    this.#arm(state)
    return { callId }
  }

  /** Applies one action to a call; rejects with the reason when it does not apply. */
  act(appKey: string, callId: string, input: CallInput): Promise<void> {
    return this.#queue.run(callId, async () => {
      const state = await this.#load(appKey, callId)
      const result = transition(state, input, this.#now())
      if (!result.ok) throw new RingKitError(result.code, result.message)
      await this.#finish(result)
    })
  }

  /** Relays media negotiation: the caller may send while ringing, the callee only once it answered. */
  relay(appKey: string, callId: string, from: DeviceRef, to: DeviceRef | undefined, data: unknown): Promise<void> {
    return this.#queue.run(callId, async () => {
      const s = await this.#load(appKey, callId)
      const event = { name: 'signal', data: { callId, from, data } } as const
      if (s.phase === 'ringing') {
        if (!sameDevice(from, s.caller)) {
          throw new RingKitError(
            s.callees.includes(from.accid) ? 'INVALID_STATE' : 'NOT_IN_CALL',
            'a callee sends media only after it accepts',
          )
        }
        const accid = to?.accid ?? s.callees[0]
        if (accid === undefined || !s.callees.includes(accid)) throw new RingKitError('NOT_IN_CALL')
        if (!to) {
          const kept = this.#ringingSignals.get(callId) ?? []
          if (kept.length < MAX_KEPT_SIGNALS) this.#ringingSignals.set(callId, [...kept, event])
        }
        this.#send(appKey, to ? { device: to } : { account: accid }, event)
        return
      }
      if (s.phase !== 'active') throw new RingKitError('CALL_NOT_FOUND')
      const peer = sameDevice(from, s.caller) ? s.answeredBy : sameDevice(from, s.answeredBy) ? s.caller : undefined
      if (!peer) throw new RingKitError('NOT_IN_CALL')
      this.#send(appKey, { device: peer }, event)
    })
  }

  /** A device is gone for good: a call it was carrying ends. */
  async deviceLost(appKey: string, device: DeviceRef, reason: 'disconnected' | 'kicked'): Promise<void> {
    const callId = await this.#o.calls.callOf(appKey, device.accid)
    if (callId === undefined) return
    await this.act(appKey, callId, { kind: 'deviceLost', device, reason }).catch((error: unknown) => {
      if (!(error instanceof RingKitError)) throw error
    })
  }

  /** A device just logged in: if its account is being rung, it rings too. */
  async deviceOnline(appKey: string, device: DeviceRef): Promise<void> {
    const callId = await this.#o.calls.callOf(appKey, device.accid)
    if (callId === undefined) return
    await this.#queue.run(callId, async () => {
      const s = await this.#o.calls.get(callId)
      if (s?.phase === 'ringing' && s.members.some((m) => m.accid === device.accid && m.status === 'ringing')) {
        this.#send(appKey, { device }, this.#invite(s, device.accid))
        for (const signal of this.#ringingSignals.get(callId) ?? []) this.#send(appKey, { device }, signal)
      }
    })
  }

  /**
   * Ends every call the journal holds from a previous run with reason `interrupted`, as of
   * `lastAliveAt` (when the previous run was last known to be up) so the downtime is not counted
   * as talk time.
   */
  async recover(lastAliveAt?: number): Promise<number> {
    const journaled = await this.#o.store.listJournaledCalls()
    for (const s of journaled) {
      if (s.phase === 'ended') {
        await this.#finish({ ok: true, state: s, effects: [] })
      } else {
        const began = s.phase === 'active' ? s.connectedAt : s.createdAt
        const endedAt = lastAliveAt === undefined ? this.#now() : Math.min(this.#now(), Math.max(began, lastAliveAt))
        await this.#finish(end(s, 'interrupted', endedAt))
      }
    }
    return journaled.length
  }

  /** Live state of a call, for the party that asks. */
  async get(callId: string): Promise<CallState | undefined> {
    return this.#o.calls.get(callId)
  }

  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
  }

  async #load(appKey: string, callId: string): Promise<CallState> {
    const state = await this.#o.calls.get(callId)
    if (!state || state.appKey !== appKey) throw new RingKitError('CALL_NOT_FOUND')
    return state
  }

  async #finish(result: ReturnType<typeof transition>): Promise<void> {
    if (!result.ok) throw new RingKitError(result.code, result.message)
    const { state, effects } = result
    const { calls, store } = this.#o
    if (state.phase !== 'ended') {
      await calls.put(state)
      if (state.phase === 'active') {
        this.#disarm(state.callId)
        await store.journalCall(state)
      }
      this.#perform(state.appKey, effects)
      return
    }
    this.#disarm(state.callId)
    const record = buildRecord(state)
    const written = await store.finishCall(state.appKey, record)
    await calls.delete(state.callId)
    for (const accid of [state.caller.accid, ...state.callees]) {
      await calls.release(state.appKey, accid, state.callId)
    }
    this.#perform(state.appKey, effects)
    if (!written) return
    for (const account of new Set([record.caller, ...record.callees])) {
      this.#send(state.appKey, { account }, { name: 'record', data: record })
    }
    this.#o.onEnded?.(state)
  }

  #perform(appKey: string, effects: Effect[]): void {
    for (const effect of effects) this.#send(appKey, effect.to, effect.event)
  }

  #send(appKey: string, to: Effect['to'], event: Effect['event']): void {
    this.#o.delivery.send(appKey, to, event)
  }

  #invite(s: CallState, accid: string): Effect['event'] {
    return {
      name: 'invited',
      data: {
        callId: s.callId,
        from: s.caller.accid,
        type: s.type,
        ...(s.attachment ? { attachment: s.attachment } : {}),
        isGroup: s.isGroup,
        members: [s.caller.accid, ...s.callees],
        expiresAt: s.expiresAt,
        iceServers: this.#o.iceServers?.(accid) ?? [],
      },
    }
  }

  #arm(s: CallState): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(s.callId)
        this.act(s.appKey, s.callId, { kind: 'timeout' }).catch((error: unknown) => {
          // The call may have ended a moment before the timer fired.
          if (!(error instanceof RingKitError)) this.#o.onError?.(error, s.callId)
        })
      },
      Math.max(0, s.expiresAt - this.#now()),
    )
    timer.unref()
    this.#timers.set(s.callId, timer)
  }

  /** Ringing is over: stop its timer and forget what late devices would have needed. */
  #disarm(callId: string): void {
    clearTimeout(this.#timers.get(callId))
    this.#timers.delete(callId)
    this.#ringingSignals.delete(callId)
  }
}
