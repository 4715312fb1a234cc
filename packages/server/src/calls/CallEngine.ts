import { randomUUID } from 'node:crypto'
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RingKitError,
  type Attachment,
  type CallMedia,
  type CallType,
  type DeviceRef,
  type IceServer,
  type SfuClientMessage,
  type SfuPublishResult,
} from '@ringkit/protocol'
import type { AccountStore, CallStore } from '../store/types.ts'
import {
  realScheduler,
  type CallStateStore,
  type EventDelivery,
  type GroupMediaServer,
  type Scheduler,
} from './ports.ts'
import { checkCalleesInAll, checkGroupSize, checkInvite } from './group-size.ts'
import { DEFAULT_LIMITS } from '../limits.ts'
import { KeptSignals } from './kept-signals.ts'
import { KeyedQueue } from './keyed-queue.ts'
import { buildRecord } from './record.ts'
import {
  end,
  groupMembers,
  holders,
  isPresent,
  isRinging,
  presentDevices,
  ringsUntil,
  sameDevice,
  type Live,
} from './steps.ts'
import { transition } from './transition.ts'
import type { CallInput, CallState, Effect, TransitionResult } from './types.ts'

export interface CallEngineOptions {
  store: AccountStore & CallStore
  calls: CallStateStore
  delivery: EventDelivery
  now?: () => number
  /** Runs the ringing deadlines; given with `now` when the clock is not the real one. */
  scheduler?: Scheduler
  /** Told of every call that ends, for metrics and logs. */
  onEnded?: (state: Extract<CallState, { phase: 'ended' }>) => void
  onError?: (error: unknown, callId: string) => void
  /** STUN/TURN servers for a party of a call, with TURN credentials for `ringingMs` and the call after it. */
  iceServers?: (accid: string, ringingMs: number) => IceServer[]
  /** The media server for group calls; without one, group calls of up to 4 run as a mesh. */
  sfu?: GroupMediaServer
  /** How many people one group call may ring over its life (`Limits.groupCallees`). */
  maxGroupCallees?: number
  /** Bounds what a ringing call keeps of the caller's negotiation for late devices. */
  keptSignals?: { count: number; bytes: number }
}

export interface StartCall {
  to: string[]
  callType: CallType
  attachment?: Attachment | undefined
  timeoutMs?: number | undefined
  /** A group call even with one callee. */
  group?: boolean | undefined
}

/** `announce` hears the callId before any event of the call is sent, so the caller's reply comes first. */
export type Announce = (callId: string, iceServers: IceServer[], media: CallMedia) => void

/**
 * Performs what `transition` decides: keeps live state, runs the ringing timers, sends events and
 * writes the record exactly once. Actions on one call run one at a time.
 */
export class CallEngine {
  readonly #o: CallEngineOptions
  readonly #now: () => number
  readonly #queue = new KeyedQueue()
  readonly #scheduler: Scheduler
  /** Per call, what cancels its ringing timer. */
  readonly #timers = new Map<string, () => void>()
  /** The caller's negotiation while ringing, for callee devices that log in late. */
  readonly #ringingSignals: KeptSignals<Effect['event']>

  constructor(options: CallEngineOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#scheduler = options.scheduler ?? realScheduler
    this.#ringingSignals = new KeptSignals(options.keptSignals ?? DEFAULT_LIMITS.keptSignals)
  }

  /** Bytes of negotiation ringing calls keep for late devices. */
  get keptSignalBytes(): number {
    return this.#ringingSignals.heldBytes
  }

  /**
   * Starts ringing `to` from the caller's device; a busy callee ends it at once with status 5.
   * `announce` hears the callId before any event of the call is sent, so the caller's reply comes first.
   */
  async start(
    appKey: string,
    caller: DeviceRef,
    req: StartCall,
    announce: Announce = () => {},
  ): Promise<{ callId: string }> {
    if (req.group || req.to.length > 1) return this.#startGroup(appKey, caller, req, announce)
    const { calls, delivery } = this.#o
    const callee = req.to[0]
    if (req.to.length !== 1 || callee === undefined) {
      throw new RingKitError('INVALID_PARAMS', 'a call has exactly one callee')
    }
    if (callee === caller.accid) throw new RingKitError('CALL_SELF')
    await this.#checkAccounts(appKey, [callee])
    if ((await delivery.onlineDevices(appKey, callee)).length === 0) {
      throw new RingKitError('CALLEE_OFFLINE', `"${callee}" has no device online`)
    }
    const state = await this.#begin(appKey, caller, req, [callee], 'p2p', announce)
    const { callId, createdAt: now } = state

    if (!(await calls.claim(appKey, callee, callId))) {
      const busy = { ...state, members: [{ accid: callee, status: 'busy' as const }] }
      await this.#queue.run(callId, () =>
        this.#finish(
          end(busy, 'busy', now, callee, [
            { kind: 'send', to: { device: caller }, event: { name: 'userBusy', data: { callId, accid: callee } } },
          ]),
          state,
        ),
      )
      return { callId }
    }
    this.#send(appKey, { account: callee }, this.#invite(state, callee))
    this.#schedule(state)
    return { callId }
  }

  /**
   * Claims the caller, then journals and keeps a new call ringing `to`, then tells the caller its
   * id. From the journal on, a crash still leaves the call a record.
   */
  async #begin(
    appKey: string,
    caller: DeviceRef,
    req: StartCall,
    to: string[],
    media: CallMedia,
    announce: Announce,
  ): Promise<Live<'ringing'>> {
    const { calls, store } = this.#o
    const now = this.#now()
    const callId = randomUUID()
    if (!(await calls.claim(appKey, caller.accid, callId))) throw new RingKitError('CALLER_BUSY')
    const expiresAt = now + (req.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS)
    const state: Live<'ringing'> = {
      phase: 'ringing',
      callId,
      appKey,
      type: req.callType,
      caller,
      callees: to,
      isGroup: media !== 'p2p',
      ...(req.attachment ? { attachment: req.attachment } : {}),
      createdAt: now,
      expiresAt,
      members: to.map((accid) => ({ accid, status: 'ringing', expiresAt })),
      media,
    }
    try {
      await store.journalCall(state)
      await calls.put(state)
    } catch (error) {
      // The call never started: a caller left claimed would be refused as busy from now on.
      await calls.release(appKey, caller.accid, callId)
      throw error
    }
    announce(callId, this.#o.iceServers?.(caller.accid, expiresAt - now) ?? [], media)
    return state
  }

  /** Group calls: claims `to` for the call and rings those not in another call. Runs in the call's queue. */
  async #ring(s: CallState, by: DeviceRef, to: string[], expiresAt: number): Promise<void> {
    const { calls } = this.#o
    const claimed = await Promise.all(to.map(async (accid) => calls.claim(s.appKey, accid, s.callId)))
    const ringing = to.filter((_, i) => claimed[i])
    const busy = to.filter((_, i) => !claimed[i])
    const result = transition(s, { kind: 'invite', by, ringing, busy, expiresAt }, this.#now())
    if (!result.ok) await Promise.all(ringing.map(async (accid) => calls.release(s.appKey, accid, s.callId)))
    const after = await this.#finish(result, s)
    if (after.phase === 'ended') return
    for (const accid of ringing) this.#send(s.appKey, { account: accid }, this.#invite(after, accid))
  }

  /** Group calls: a device answers or joins; the first one in makes the call's room on the media server. */
  async #enter(s: CallState, input: Extract<CallInput, { kind: 'accept' | 'join' }>): Promise<CallState> {
    const result = transition(s, input, this.#now())
    if (result.ok && s.media === 'sfu' && this.#o.sfu) {
      try {
        await this.#o.sfu.open(s.appKey, s.callId)
      } catch (error) {
        // Nobody can hear anybody: end the call rather than leave it ringing or silent.
        // As the call stood before this answer: the answer did not make it a call anyone was in.
        if (s.phase !== 'ended') await this.#finish(end(s, 'mediaServerLost', this.#now()), s)
        throw error
      }
    }
    return this.#finish(result, s)
  }

  /** A group call `by` is a party to: an outsider learns nothing of the call, not even its kind. */
  async #loadGroup(appKey: string, callId: string, by: DeviceRef): Promise<CallState> {
    const s = await this.#load(appKey, callId)
    if (by.accid !== s.caller.accid && !s.callees.includes(by.accid)) throw new RingKitError('NOT_IN_CALL')
    if (!s.isGroup) throw new RingKitError('NOT_GROUP_CALL')
    return s
  }

  async #checkAccounts(appKey: string, accids: string[]): Promise<void> {
    for (const accid of accids) {
      if (!(await this.#o.store.hasAccount(appKey, accid))) {
        throw new RingKitError('ACCOUNT_NOT_FOUND', `no account "${accid}" in this app`)
      }
    }
  }

  /** Group calls: rings everyone in `to`; those in another call are busy, and the call rings the rest. */
  async #startGroup(
    appKey: string,
    caller: DeviceRef,
    req: StartCall,
    announce: Announce,
  ): Promise<{ callId: string }> {
    const { delivery, sfu } = this.#o
    const to = [...new Set(req.to)]
    if (to.includes(caller.accid)) throw new RingKitError('CALL_SELF')
    const media: CallMedia = sfu ? 'sfu' : 'mesh'
    checkGroupSize(1 + to.length, media)
    checkCalleesInAll(to.length, this.#o.maxGroupCallees)
    await this.#checkAccounts(appKey, to)
    const online = await Promise.all(to.map(async (accid) => delivery.onlineDevices(appKey, accid)))
    if (online.every((devices) => devices.length === 0)) {
      throw new RingKitError('CALLEE_OFFLINE', 'none of the callees has a device online')
    }
    // Before anyone rings: a call that could not carry media should not ring.
    await sfu?.available()
    const state = await this.#begin(appKey, caller, req, to, media, announce)
    await this.#queue.run(state.callId, async () => this.#ring(state, caller, to, state.expiresAt))
    return { callId: state.callId }
  }

  /**
   * Group calls: rings more people into the call. Those already ringing or in it are left as they
   * are; those in another call are busy.
   */
  invite(appKey: string, callId: string, by: DeviceRef, to: string[]): Promise<void> {
    return this.#queue.run(callId, async () => {
      const s = await this.#loadGroup(appKey, callId, by)
      const inCall = new Set([s.caller.accid, ...presentDevices(s).map((d) => d.accid)])
      const fresh = [...new Set(to)].filter((accid) => !inCall.has(accid) && !isRinging(s, accid))
      if (fresh.length === 0) return
      checkInvite(s, fresh, this.#o.maxGroupCallees)
      await this.#checkAccounts(appKey, fresh)
      await this.#ring(s, by, fresh, this.#now() + (s.expiresAt - s.createdAt))
    })
  }

  /** Group calls: a member who declined, missed or left comes (back) into the live call. */
  join(appKey: string, callId: string, by: DeviceRef): Promise<CallState> {
    return this.#queue.run(callId, async () => {
      const s = await this.#loadGroup(appKey, callId, by)
      const held = isRinging(s, by.accid) || presentDevices(s).some((d) => d.accid === by.accid)
      if (!held) checkGroupSize(holders(s).size + 1, s.media)
      if (!held && !(await this.#o.calls.claim(appKey, by.accid, callId))) {
        throw new RingKitError('CALLER_BUSY', 'this account is in another call')
      }
      try {
        return await this.#enter(s, { kind: 'join', by })
      } catch (error) {
        if (!held) await this.#o.calls.release(appKey, by.accid, callId)
        throw error
      }
    })
  }

  /** Group calls through Janus: relays a device's media negotiation to the media server. */
  async sfuMessage(
    appKey: string,
    callId: string,
    from: DeviceRef,
    message: SfuClientMessage,
  ): Promise<SfuPublishResult | Record<string, never>> {
    // Not queued: Janus may take a while, and the call's other actions need not wait for it.
    const s = await this.#loadGroup(appKey, callId, from)
    const sfu = this.#o.sfu
    if (s.media !== 'sfu' || !sfu) throw new RingKitError('INVALID_STATE', 'this call does not go through Janus')
    if (!isPresent(s, from)) throw new RingKitError('NOT_IN_CALL')
    return sfu.handle(appKey, callId, from, message)
  }

  /** Applies one action to a call and resolves with the call's state after it; rejects when it does not apply. */
  act(appKey: string, callId: string, input: CallInput): Promise<CallState> {
    return this.#queue.run(callId, async () => {
      const state = await this.#load(appKey, callId)
      if (input.kind === 'accept' && state.isGroup) return this.#enter(state, input)
      return this.#finish(transition(state, input, this.#now()), state)
    })
  }

  /**
   * Relays media negotiation: the caller may send while ringing, the callee only once it answered.
   * In a group mesh, from one device in the call to another one in it.
   */
  relay(appKey: string, callId: string, from: DeviceRef, to: DeviceRef | undefined, data: unknown): Promise<void> {
    return this.#queue.run(callId, async () => {
      const s = await this.#load(appKey, callId)
      const event = { name: 'signal', data: { callId, from, data } } as const
      if (s.isGroup) {
        if (s.media !== 'mesh') throw new RingKitError('INVALID_STATE', 'this call negotiates media with Janus')
        if (!isPresent(s, from)) throw new RingKitError('NOT_IN_CALL')
        if (!to || !isPresent(s, to)) {
          throw new RingKitError('NOT_IN_CALL', 'in a group call, `to` must name a device in the call')
        }
        return this.#send(appKey, { device: to }, event)
      }
      if (s.phase === 'ringing') {
        if (!sameDevice(from, s.caller)) {
          throw new RingKitError(
            s.callees.includes(from.accid) ? 'INVALID_STATE' : 'NOT_IN_CALL',
            'a callee sends media only after it accepts',
          )
        }
        const accid = to?.accid ?? s.callees[0]
        if (accid === undefined || !s.callees.includes(accid)) throw new RingKitError('NOT_IN_CALL')
        if (!to) this.#ringingSignals.keep(callId, event, Buffer.byteLength(JSON.stringify(data) ?? ''))
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
      if (s && s.phase !== 'ended' && isRinging(s, device.accid)) {
        this.#send(appKey, { device }, this.#invite(s, device.accid))
        for (const signal of this.#ringingSignals.of(callId)) this.#send(appKey, { device }, signal)
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
        await this.#finish({ ok: true, state: s, effects: [] }, s)
      } else {
        const began = s.phase === 'active' ? s.connectedAt : s.createdAt
        const endedAt = lastAliveAt === undefined ? this.#now() : Math.min(this.#now(), Math.max(began, lastAliveAt))
        await this.#finish(end(s, 'interrupted', endedAt), s)
      }
    }
    return journaled.length
  }

  /** Live state of a call, for the party that asks. */
  async get(callId: string): Promise<CallState | undefined> {
    return this.#o.calls.get(callId)
  }

  close(): void {
    for (const cancel of this.#timers.values()) cancel()
    this.#timers.clear()
  }

  async #load(appKey: string, callId: string): Promise<CallState> {
    const state = await this.#o.calls.get(callId)
    if (!state || state.appKey !== appKey) throw new RingKitError('CALL_NOT_FOUND')
    return state
  }

  /** Applies a transition's result: keeps or ends the call, performs its effects, writes the record once. */
  async #finish(result: TransitionResult, before: CallState): Promise<CallState> {
    if (!result.ok) throw new RingKitError(result.code, result.message)
    const { state, effects } = result
    const { calls, store } = this.#o
    this.#schedule(state)
    if (state.phase !== 'ended') {
      await calls.put(state)
      // Live 1:1 calls change little once connected; a group call's members change all along.
      if (state.phase === 'active' || state.isGroup) await store.journalCall(state)
      this.#perform(state.appKey, effects)
      if (state.isGroup) await this.#groupChanged(before, state)
      return state
    }
    const record = buildRecord(state)
    const written = await store.finishCall(state.appKey, record)
    await calls.delete(state.callId)
    for (const accid of [state.caller.accid, ...state.callees]) {
      await calls.release(state.appKey, accid, state.callId)
    }
    this.#perform(state.appKey, effects)
    if (state.media === 'sfu') await this.#o.sfu?.close(state.callId)
    if (!written) return state
    for (const account of new Set([record.caller, ...record.callees])) {
      this.#send(state.appKey, { account }, { name: 'record', data: record })
    }
    this.#o.onEnded?.(state)
    return state
  }

  /**
   * A live group call changed: the devices in it hear where everyone stands, accounts no longer in
   * it may take other calls, and devices that left leave the media server's room.
   */
  async #groupChanged(before: CallState, after: CallState): Promise<void> {
    const members = groupMembers(after)
    const present = presentDevices(after)
    const ringing = after.members.filter((m) => m.status === 'ringing').map((m) => m.accid)
    if (JSON.stringify(members) !== JSON.stringify(groupMembers(before))) {
      // Those still ringing hear it too: an invitation should not list someone who already declined.
      const event = { name: 'members', data: { callId: after.callId, members } } as const
      for (const device of present) this.#send(after.appKey, { device }, event)
      for (const account of ringing) this.#send(after.appKey, { account }, event)
    }
    // Only those the call held until now: the rest were released already, or never claimed (busy).
    const holding = holders(after)
    for (const accid of holders(before)) {
      if (!holding.has(accid)) await this.#o.calls.release(after.appKey, accid, after.callId)
    }
    if (after.media !== 'sfu') return
    for (const device of presentDevices(before)) {
      if (!present.some((d) => sameDevice(d, device))) await this.#o.sfu?.leave(after.callId, device)
    }
  }

  #perform(appKey: string, effects: Effect[]): void {
    for (const effect of effects) this.#send(appKey, effect.to, effect.event)
  }

  #send(appKey: string, to: Effect['to'], event: Effect['event']): void {
    this.#o.delivery.send(appKey, to, event)
  }

  #invite(s: CallState, accid: string): Effect['event'] {
    const member = s.members.find((m) => m.accid === accid)
    const expiresAt = member ? ringsUntil(s, member) : s.expiresAt
    return {
      name: 'invited',
      data: {
        callId: s.callId,
        from: s.caller.accid,
        type: s.type,
        ...(s.attachment ? { attachment: s.attachment } : {}),
        isGroup: s.isGroup,
        members: [s.caller.accid, ...s.callees],
        media: s.media,
        expiresAt,
        iceServers: this.#o.iceServers?.(accid, Math.max(0, expiresAt - this.#now())) ?? [],
      },
    }
  }

  /** Sets the call's one timer to its next ringing deadline, or clears it when nothing rings. */
  #schedule(s: CallState): void {
    this.#timers.get(s.callId)?.()
    this.#timers.delete(s.callId)
    const at = deadline(s)
    // Ringing is over: forget what late devices would have needed.
    if (at === undefined) return void this.#ringingSignals.drop(s.callId)
    const cancel = this.#scheduler.after(Math.max(0, at - this.#now()), async () => {
      this.#timers.delete(s.callId)
      await this.act(s.appKey, s.callId, { kind: 'timeout' }).catch((error: unknown) => {
        // The call may have ended a moment before the timer fired.
        if (!(error instanceof RingKitError)) this.#o.onError?.(error, s.callId)
      })
    })
    this.#timers.set(s.callId, cancel)
  }
}

/** When the call's next ringing gives up: the earliest deadline of a member it still rings. */
function deadline(s: CallState): number | undefined {
  if (s.phase === 'ended') return undefined
  const ringing = s.members.filter((m) => m.status === 'ringing').map((m) => ringsUntil(s, m))
  return ringing.length > 0 ? Math.min(...ringing) : undefined
}
