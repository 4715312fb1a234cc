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
  type CallEventSink,
  type CallStateStore,
  type ClusterNode,
  type KeptCall,
  type EventDelivery,
  type GroupMediaServer,
  type Scheduler,
} from './ports.ts'
import { checkCalleesInAll, checkGroupSize, checkInvite } from './group-size.ts'
import { DEFAULT_LIMITS } from '../limits.ts'
import { memoryRingingSignals, type RingingSignals } from './ringing-signals.ts'
import { KeyedQueue } from './keyed-queue.ts'
import { storeJournal, type CallJournal } from './journal.ts'
import { buildRecord } from './record.ts'
import { liveEvents, ringingEvent } from '../webhooks/events.ts'
import {
  carriers,
  end,
  groupMembers,
  holders,
  isPresent,
  isRinging,
  nextDeadline,
  presentDevices,
  ringsUntil,
  sameDevice,
  send,
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
  /** What ringing calls keep of the caller's negotiation for late devices; default in memory, `Limits.keptSignals`. */
  ringingSignals?: RingingSignals
  /**
   * This node in a cluster: the engine then fires the deadlines due in the shared state whichever
   * node set them, and takes over the calls of nodes whose lease expired (never of live ones).
   */
  cluster?: ClusterNode
  /** Where live calls' journal rows are written; default straight to `store`, each write awaited. */
  journal?: CallJournal
  /** App backends' webhooks and Web Push: told of each call as it goes; they may ring a callee offline. */
  webhooks?: CallEventSink
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

/** How many times an action reads the call again after another node wrote it first. */
const WRITE_ATTEMPTS = 5

/** How soon a ringing deadline that failed to apply (its state out of reach) is tried again. */
const TIMER_RETRY_MS = 1000

/** How often a node of a cluster looks for ringing deadlines due, whichever node set them. */
const DEADLINE_POLL_MS = 300
/**
 * How long a due deadline is left to the node that set it (its own timer fires on time) before any
 * node fires it: the devices of the call are most likely on that node.
 */
const DEADLINE_LEEWAY_MS = 500
/** How many due deadlines one look fires at most; the rest wait for the next. */
const DUE_BATCH = 100
/** How often a node of a cluster looks for calls whose node's lease expired, and for their devices. */
const ADOPT_EVERY_MS = 2000
/** How long a node taking over a call keeps others from taking it too. */
const ADOPT_LOCK_MS = 10_000

/** Another write of the call came first: the action reads it again and decides again. */
class LostRace extends Error {}

/** What a write of the call replaces: the state and version read (none kept: `undefined`). */
interface Read {
  state: CallState
  version: number | undefined
}

/**
 * Performs what `transition` decides: keeps live state, runs the ringing timers, sends events and
 * writes the record exactly once. Actions on one call run one at a time on this node; across nodes,
 * each write names the version it read, and an action whose write lost reads the call again and
 * runs `transition` again, so nothing it would have sent is sent.
 */
export class CallEngine {
  readonly #o: CallEngineOptions
  readonly #now: () => number
  readonly #queue = new KeyedQueue()
  readonly #journal: CallJournal
  readonly #scheduler: Scheduler
  /** Per call, what cancels its ringing timer. */
  readonly #timers = new Map<string, () => void>()
  /** The caller's negotiation while ringing, for callee devices that log in late. */
  readonly #ringingSignals: RingingSignals
  /** Calls this node took over from a dead one: their devices are watched, no session of ours holds them. */
  readonly #adopted = new Set<string>()
  /** What stops the cluster duties (deadline poll, lease watch). */
  readonly #duties: (() => void)[] = []
  /** Accounts whose call is ending here, until its last events and record are sent (`appKey\0accid`). */
  readonly #settling = new Map<string, number>()

  constructor(options: CallEngineOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#scheduler = options.scheduler ?? realScheduler
    this.#journal = options.journal ?? storeJournal(options.store, options.cluster?.id)
    this.#ringingSignals = options.ringingSignals ?? memoryRingingSignals(DEFAULT_LIMITS.keptSignals)
    if (options.cluster) {
      // Real time, not the scheduler's: each look reads the engine's `now`, so a test's clock still decides what is due.
      const onError = (error: unknown) => options.onError?.(error, '')
      this.#duties.push(every(DEADLINE_POLL_MS, () => this.#fireDue(), onError))
      this.#duties.push(every(ADOPT_EVERY_MS, () => this.#sweep(false), onError))
    }
  }

  /**
   * Whether a call of this account is ending on this node and its `callEnd` or record is not sent
   * yet: its busy claim may already be gone, but its devices still have events to hear here.
   */
  settling(appKey: string, accid: string): boolean {
    return this.#settling.has(`${appKey}\0${accid}`)
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
    const offline = (await delivery.onlineDevices(appKey, callee)).length === 0 ? [callee] : []
    // An app backend that takes `call.ringing` can reach the callee another way (its own push).
    if (offline.length > 0 && !(await this.#o.webhooks?.ringsOffline(appKey, callee))) {
      throw new RingKitError('CALLEE_OFFLINE', `"${callee}" has no device online`)
    }
    const begun = await this.#begin(appKey, caller, req, [callee], 'p2p', announce, offline)
    const { state } = begun
    const { callId } = state

    if (!(await calls.claim(appKey, callee, callId))) {
      await this.#queue.run(callId, () => this.#endBusy(begun, callee))
      return { callId }
    }
    this.#send(appKey, { account: callee }, this.#invite(state, callee))
    this.#schedule(state)
    return { callId }
  }

  /** 1:1: the callee is in another call, so the call ends at once with status 5. */
  async #endBusy(begun: KeptCall, callee: string): Promise<void> {
    let read: KeptCall | undefined = begun
    await this.#retrying(async () => {
      const kept = read ?? (await this.#o.calls.get(begun.state.callId))
      read = undefined
      // The caller acted on the call meanwhile (from another node): what it did stands.
      if (kept?.state.phase !== 'ringing') return
      const s = kept.state
      const busy = { ...s, members: [{ accid: callee, status: 'busy' as const }] }
      const userBusy = { name: 'userBusy', data: { callId: s.callId, accid: callee } } as const
      await this.#finish(end(busy, 'busy', s.createdAt, callee, [send({ device: s.caller }, userBusy)]), kept)
    })
  }

  /**
   * Keeps a new call ringing `to` and claims the caller for it (a claim needs its call kept), then
   * journals it, then tells the caller its id. From the journal on, a crash still leaves the call a
   * record; before it, the kept state expires and the claim with it.
   */
  async #begin(
    appKey: string,
    caller: DeviceRef,
    req: StartCall,
    to: string[],
    media: CallMedia,
    announce: Announce,
    offline: string[],
  ): Promise<KeptCall & { state: Live<'ringing'> }> {
    const { calls } = this.#o
    const now = this.#now()
    const callId = randomUUID()
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
    // A fresh callId: no other write can come first.
    const version = await calls.put(state, undefined)
    if (version === undefined) throw new RingKitError('INTERNAL', 'a new call found its id taken')
    try {
      if (!(await calls.claim(appKey, caller.accid, callId))) throw new RingKitError('CALLER_BUSY')
      await this.#journal.begin(state, version)
    } catch (error) {
      // The call never started: a caller left claimed would be refused as busy from now on.
      await calls.release(appKey, caller.accid, callId)
      await calls.delete(callId, version)
      throw error
    }
    await this.#o.webhooks?.add(appKey, callId, [ringingEvent(state, to, offline)])
    announce(callId, this.#o.iceServers?.(caller.accid, expiresAt - now) ?? [], media)
    return { state, version }
  }

  /** Group calls: claims `to` for the call and rings those not in another call. Runs in the call's queue. */
  async #ring(read: KeptCall, by: DeviceRef, to: string[], expiresAt: number, offline: string[] = []): Promise<void> {
    const { calls } = this.#o
    const s = read.state
    const claimed = await Promise.all(to.map(async (accid) => calls.claim(s.appKey, accid, s.callId)))
    const ringing = to.filter((_, i) => claimed[i])
    const busy = to.filter((_, i) => !claimed[i])
    const result = transition(s, { kind: 'invite', by, ringing, busy, expiresAt }, this.#now())
    if (!result.ok) await Promise.all(ringing.map(async (accid) => calls.release(s.appKey, accid, s.callId)))
    // A lost write keeps the claims: the next attempt claims them again, and those the call does
    // not come to hold count for nothing once it ends.
    const after = await this.#finish(result, read, offline)
    if (after.phase === 'ended') return
    for (const accid of ringing) this.#send(s.appKey, { account: accid }, this.#invite(after, accid))
  }

  /** Group calls: a device answers or joins; the first one in makes the call's room on the media server. */
  async #enter(read: KeptCall, input: Extract<CallInput, { kind: 'accept' | 'join' }>): Promise<CallState> {
    const s = read.state
    const result = transition(s, input, this.#now())
    if (result.ok && s.media === 'sfu' && this.#o.sfu) {
      try {
        await this.#o.sfu.open(s.appKey, s.callId)
      } catch (error) {
        // Nobody can hear anybody: end the call rather than leave it ringing or silent.
        // As the call stood before this answer: the answer did not make it a call anyone was in.
        if (s.phase !== 'ended') await this.#finish(end(s, 'mediaServerLost', this.#now()), read)
        throw error
      }
    }
    return this.#finish(result, read)
  }

  /** A group call `by` is a party to: an outsider learns nothing of the call, not even its kind. */
  async #loadGroup(appKey: string, callId: string, by: DeviceRef): Promise<KeptCall> {
    const kept = await this.#load(appKey, callId)
    const s = kept.state
    if (by.accid !== s.caller.accid && !s.callees.includes(by.accid)) throw new RingKitError('NOT_IN_CALL')
    if (!s.isGroup) throw new RingKitError('NOT_GROUP_CALL')
    return kept
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
    const offline = to.filter((_, i) => online[i]?.length === 0)
    const reachable = await Promise.all(offline.map(async (accid) => this.#o.webhooks?.ringsOffline(appKey, accid)))
    if (offline.length === to.length && !reachable.some(Boolean)) {
      throw new RingKitError('CALLEE_OFFLINE', 'none of the callees has a device online')
    }
    // Before anyone rings: a call that could not carry media should not ring.
    await sfu?.available()
    const { state } = await this.#begin(appKey, caller, req, to, media, announce, offline)
    const { callId } = state
    await this.#queue.run(callId, () =>
      this.#retrying(async () => this.#ring(await this.#load(appKey, callId), caller, to, state.expiresAt)),
    )
    return { callId }
  }

  /**
   * Group calls: rings more people into the call. Those already ringing or in it are left as they
   * are; those in another call are busy.
   */
  invite(appKey: string, callId: string, by: DeviceRef, to: string[]): Promise<void> {
    return this.#queue.run(callId, async () =>
      this.#retrying(async () => {
        const kept = await this.#loadGroup(appKey, callId, by)
        const s = kept.state
        const inCall = new Set([s.caller.accid, ...presentDevices(s).map((d) => d.accid)])
        const fresh = [...new Set(to)].filter((accid) => !inCall.has(accid) && !isRinging(s, accid))
        if (fresh.length === 0) return
        checkInvite(s, fresh, this.#o.maxGroupCallees)
        await this.#checkAccounts(appKey, fresh)
        const online = await Promise.all(fresh.map(async (accid) => this.#o.delivery.onlineDevices(appKey, accid)))
        const offline = fresh.filter((_, i) => online[i]?.length === 0)
        await this.#ring(kept, by, fresh, this.#now() + (s.expiresAt - s.createdAt), offline)
      }),
    )
  }

  /** Group calls: a member who declined, missed or left comes (back) into the live call. */
  join(appKey: string, callId: string, by: DeviceRef): Promise<CallState> {
    return this.#queue.run(callId, async () =>
      this.#retrying(async () => {
        const kept = await this.#loadGroup(appKey, callId, by)
        const s = kept.state
        const held = isRinging(s, by.accid) || presentDevices(s).some((d) => d.accid === by.accid)
        if (!held) checkGroupSize(holders(s).size + 1, s.media)
        if (!held && !(await this.#o.calls.claim(appKey, by.accid, callId))) {
          throw new RingKitError('CALLER_BUSY', 'this account is in another call')
        }
        try {
          return await this.#enter(kept, { kind: 'join', by })
        } catch (error) {
          // A lost write keeps the claim for the next attempt, which may find the account joined.
          if (!held && !(error instanceof LostRace)) await this.#o.calls.release(appKey, by.accid, callId)
          throw error
        }
      }),
    )
  }

  /** Group calls through Janus: relays a device's media negotiation to the media server. */
  async sfuMessage(
    appKey: string,
    callId: string,
    from: DeviceRef,
    message: SfuClientMessage,
  ): Promise<SfuPublishResult | Record<string, never>> {
    // Not queued: Janus may take a while, and the call's other actions need not wait for it.
    const s = (await this.#loadGroup(appKey, callId, from)).state
    const sfu = this.#o.sfu
    if (s.media !== 'sfu' || !sfu) throw new RingKitError('INVALID_STATE', 'this call does not go through Janus')
    if (!isPresent(s, from)) throw new RingKitError('NOT_IN_CALL')
    return sfu.handle(appKey, callId, from, message)
  }

  /** Applies one action to a call and resolves with the call's state after it; rejects when it does not apply. */
  act(appKey: string, callId: string, input: CallInput): Promise<CallState> {
    return this.#queue.run(callId, async () =>
      this.#retrying(async () => {
        const kept = await this.#load(appKey, callId)
        if (input.kind === 'accept' && kept.state.isGroup) return this.#enter(kept, input)
        return this.#finish(transition(kept.state, input, this.#now()), kept)
      }),
    )
  }

  /**
   * Relays media negotiation: the caller may send while ringing, the callee only once it answered.
   * In a group mesh, from one device in the call to another one in it.
   */
  relay(appKey: string, callId: string, from: DeviceRef, to: DeviceRef | undefined, data: unknown): Promise<void> {
    return this.#queue.run(callId, async () => {
      const s = (await this.#load(appKey, callId)).state
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
        if (!to) await this.#ringingSignals.keep(callId, event, s.expiresAt).catch(() => undefined)
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

  /**
   * A device just logged in with a new session: if its account is being rung, it rings too. A call
   * the device itself carried is over for it, as its SDK dropped the call with the old session;
   * that session's node may have died without ending it.
   */
  async deviceOnline(appKey: string, device: DeviceRef): Promise<void> {
    const callId = await this.#o.calls.callOf(appKey, device.accid)
    if (callId === undefined) return
    const kept = (await this.#o.calls.get(callId))?.state
    if (kept && kept.phase !== 'ended' && carriers(kept).some((d) => sameDevice(d, device))) {
      await this.act(appKey, callId, { kind: 'deviceLost', device, reason: 'disconnected' }).catch(refused)
      return
    }
    await this.#queue.run(callId, async () => {
      const s = (await this.#o.calls.get(callId))?.state
      if (s && s.phase !== 'ended' && isRinging(s, device.accid)) {
        this.#send(appKey, { device }, this.#invite(s, device.accid))
        for (const signal of await this.#ringingSignals.of(callId)) this.#send(appKey, { device }, signal)
      }
    })
  }

  /**
   * Ends every call the journal holds from a previous run with reason `interrupted`, as of
   * `lastAliveAt` (when the previous run was last known to be up) so the downtime is not counted
   * as talk time.
   */
  async recover(lastAliveAt?: number): Promise<number> {
    // In a cluster the journal holds other nodes' live calls too: only those of dead nodes are touched.
    if (this.#o.cluster) return this.#sweep(true)
    const journaled = await this.#o.store.listJournaledCalls()
    for (const s of journaled) await this.#interrupt(s, lastAliveAt)
    return journaled.length
  }

  /** Ends the journaled state with reason `interrupted`, and forgets the kept one whatever it says. */
  async #interrupt(s: CallState, lastAliveAt: number | undefined): Promise<void> {
    const result: TransitionResult =
      s.phase === 'ended' ? { ok: true, state: s, effects: [] } : end(s, 'interrupted', this.#endOf(s, lastAliveAt))
    await this.#retrying(async () =>
      this.#finish(result, { state: s, version: (await this.#o.calls.get(s.callId))?.version }),
    )
  }

  /**
   * Cluster: takes over the journaled calls whose owner's lease expired (at start, this node's own
   * from a previous run too), then watches the devices of the calls it took. Resolves with how
   * many calls it took over or ended.
   */
  async #sweep(atStart: boolean): Promise<number> {
    const cluster = this.#o.cluster
    if (!cluster) return 0
    let taken = 0
    // One lease read per owner per look, however many calls it keeps.
    const alive = new Map<string, Promise<boolean>>()
    const isAlive = (owner: string) => alive.get(owner) ?? alive.set(owner, cluster.alive(owner)).get(owner)!
    for (const { state, owner } of await this.#o.store.listJournal()) {
      if (owner === cluster.id ? !atStart : owner !== undefined && (await isAlive(owner))) continue
      if (!(await cluster.lock(`adopt:${state.callId}`, ADOPT_LOCK_MS))) continue
      await this.#queue.run(state.callId, () => this.#adopt(state))
      taken++
    }
    await this.#watchAdopted()
    return taken
  }

  /**
   * A call whose node died: its media is peer to peer and goes on, so it is kept under this node
   * rather than ended; its ringing deadline is in the shared state already. Only a call whose live
   * state is gone ends, as after a restart.
   */
  async #adopt(journaled: CallState): Promise<void> {
    const kept = await this.#o.calls.get(journaled.callId)
    if (!kept) return this.#interrupt(journaled, undefined)
    // Written again over the version read: the old node, if it only paused, finds its next write fenced.
    const version = await this.#o.calls.put(kept.state, kept.version)
    if (version === undefined) return
    await this.#journal.update(kept.state, version)
    this.#adopted.add(journaled.callId)
    this.#schedule(kept.state)
  }

  /**
   * The devices of a call taken over had their sessions on the dead node, which would have ended
   * the call once one was gone past the resume grace. Here presence says it: a device that resumed
   * elsewhere is present again, and one that did not lapses after its node's last beat and the grace.
   */
  async #watchAdopted(): Promise<void> {
    const cluster = this.#o.cluster
    if (!cluster) return
    for (const callId of this.#adopted) {
      const s = (await this.#o.calls.get(callId))?.state
      if (!s || s.phase === 'ended') {
        this.#adopted.delete(callId)
        continue
      }
      for (const device of carriers(s)) {
        if ((await cluster.devices(s.appKey, device.accid)).includes(device.deviceId)) continue
        await this.act(s.appKey, callId, { kind: 'deviceLost', device, reason: 'disconnected' }).catch(refused)
      }
    }
  }

  /** Cluster: fires the ringing deadlines due in the shared state, whichever node set them. */
  async #fireDue(): Promise<void> {
    const due = (await this.#o.calls.dueCalls?.(this.#now() - DEADLINE_LEEWAY_MS, DUE_BATCH)) ?? []
    for (const callId of due) {
      const kept = await this.#o.calls.get(callId)
      const at = kept && nextDeadline(kept.state)
      // Another node fired it, or the call moved on, since the look.
      if (!kept || at === undefined || at > this.#now()) continue
      await this.act(kept.state.appKey, callId, { kind: 'timeout' }).catch(refused)
    }
  }

  /** When an interrupted call ended: when its node was last known up, but not before it began. */
  #endOf(s: Live, lastAliveAt: number | undefined): number {
    const began = s.phase === 'active' ? s.connectedAt : s.createdAt
    return lastAliveAt === undefined ? this.#now() : Math.min(this.#now(), Math.max(began, lastAliveAt))
  }

  /** Live state of a call, for the party that asks. */
  async get(callId: string): Promise<CallState | undefined> {
    return (await this.#o.calls.get(callId))?.state
  }

  close(): void {
    for (const stop of this.#duties.splice(0)) stop()
    this.#journal.close?.()
    for (const cancel of this.#timers.values()) cancel()
    this.#timers.clear()
  }

  async #load(appKey: string, callId: string): Promise<KeptCall> {
    const kept = await this.#o.calls.get(callId)
    if (!kept || kept.state.appKey !== appKey) throw new RingKitError('CALL_NOT_FOUND')
    return kept
  }

  /** Runs `attempt` (which reads the call) again while another node's write of the call comes first. */
  async #retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt()
      } catch (error) {
        if (!(error instanceof LostRace)) throw error
        if (i >= WRITE_ATTEMPTS) {
          throw new RingKitError('INTERNAL', `the call changed ${i} times while this action was applied`, {
            cause: error,
          })
        }
      }
    }
  }

  /**
   * Applies a transition's result: keeps or ends the call, then performs its effects and writes
   * the record once. The write names the version read; when another came first it throws
   * `LostRace` having done nothing else.
   */
  async #finish(result: TransitionResult, before: Read, offline: string[] = []): Promise<CallState> {
    if (!result.ok) throw new RingKitError(result.code, result.message)
    const { state, effects } = result
    if (state.phase !== 'ended') {
      const version = await this.#o.calls.put(state, before.version)
      if (version === undefined) throw new LostRace()
      this.#schedule(state)
      // Live 1:1 calls change little once connected; a group call's members change all along.
      if (state.phase === 'active' || state.isGroup) await this.#journal.update(state, version)
      const told = liveEvents(before.state, state, this.#now(), offline)
      if (told.length > 0) await this.#o.webhooks?.add(state.appKey, state.callId, told)
      this.#perform(state.appKey, effects)
      if (state.isGroup) await this.#groupChanged(before.state, state)
      return state
    }
    const keys = [...new Set([state.caller.accid, ...state.callees])].map((accid) => `${state.appKey}\0${accid}`)
    for (const key of keys) this.#settling.set(key, (this.#settling.get(key) ?? 0) + 1)
    try {
      return await this.#end(state, effects, before)
    } finally {
      for (const key of keys) {
        const left = (this.#settling.get(key) ?? 1) - 1
        if (left === 0) this.#settling.delete(key)
        else this.#settling.set(key, left)
      }
    }
  }

  /** Ends the call: forgets it, writes its record, frees its accounts, then tells its devices. */
  async #end(state: Extract<CallState, { phase: 'ended' }>, effects: Effect[], before: Read): Promise<CallState> {
    const { calls, store } = this.#o
    // Forgotten first, so that no other node acts on it; a crash before the record leaves it journaled.
    if (before.version !== undefined && !(await calls.delete(state.callId, before.version))) throw new LostRace()
    this.#schedule(state)
    const record = buildRecord(state)
    // A group call's last change (a decline, a miss, a leave, the caller giving up) is told before its end.
    const told = state.isGroup ? liveEvents(before.state, state, this.#now()) : []
    if (told.length > 0) await this.#o.webhooks?.add(state.appKey, state.callId, told)
    const written = await store.finishCall(state.appKey, record)
    if (written) this.#o.webhooks?.recorded(state.appKey, record)
    this.#journal.ended(state.callId)
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
    const at = nextDeadline(s)
    // Ringing is over: forget what late devices would have needed.
    if (at === undefined) return void this.#ringingSignals.drop(s.callId).catch(() => undefined)
    const fire = async () => {
      this.#timers.delete(s.callId)
      await this.act(s.appKey, s.callId, { kind: 'timeout' }).catch((error: unknown) => {
        // The call may have ended a moment before the timer fired.
        if (!(error instanceof RingKitError)) return this.#o.onError?.(error, s.callId)
        // The shared state was out of reach: given up, the call would ring on for everyone.
        if (error.retryable && !this.#timers.has(s.callId)) {
          this.#timers.set(s.callId, this.#scheduler.after(TIMER_RETRY_MS, fire))
        }
      })
    }
    this.#timers.set(s.callId, this.#scheduler.after(Math.max(0, at - this.#now()), fire))
  }
}

/** A call refusing an action (it ended or moved on) is no failure of the one who sent it. */
function refused(error: unknown): void {
  if (!(error instanceof RingKitError)) throw error
}

/**
 * Runs `task` every `ms` (real time, never keeping the process up), never two at once. A failure
 * is tried again on the next beat: Redis or the store out of reach for a while is expected, and
 * only what is not a RingKitError (a bug) is told to `onError`.
 */
function every(ms: number, task: () => Promise<unknown>, onError: (error: unknown) => void): () => void {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    task()
      .catch((error: unknown) => {
        if (!(error instanceof RingKitError)) onError(error)
      })
      .finally(() => (running = false))
  }, ms)
  timer.unref()
  return () => clearInterval(timer)
}
