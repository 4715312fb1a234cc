import { MAX_HELD_CALLS, type ErrorBody, type ServerEvent } from '@ringkit/protocol'
import type { WebSocket } from 'ws'
import type { SessionJournal } from '../bus/session-log.ts'
import type { Limits } from '../limits.ts'
import { sendFrame } from './outbound.ts'
import { RequestMeter } from './RequestMeter.ts'

/** How many request ids a session remembers, so a resent request is not run twice. */
const RECENT_REQUESTS = 256
/** How many ended calls a session remembers: far more than a device can hold at once. */
const RECENT_ENDS = 32

/**
 * One logged-in device. It outlives its socket for the grace period: frames sent meanwhile wait in
 * the outbox, numbered, and a resuming device gets every one it has not acknowledged, in order.
 * Devices acknowledge every 64 frames, every 256 KiB and every heartbeat, so a live one keeps the
 * outbox far below `limits.outbox`; past it the session cannot be resumed and keeps nothing more.
 */
export class Session {
  readonly sessionId: string
  readonly appKey: string
  readonly accid: string
  readonly deviceId: string
  socket: WebSocket | undefined
  graceTimer: NodeJS.Timeout | undefined
  tokenTimer: NodeJS.Timeout | undefined
  /** In a cluster: the session's log in Redis, which every numbered frame and ack also goes to. */
  journal: SessionJournal | undefined
  /** The node that took this session over (its device resumed there): here it ends without ending anything. */
  movedTo: string | undefined
  readonly #limits: Limits
  #meter: RequestMeter | undefined
  #seq = 0
  #outbox: { seq: number; text: string; bytes: number }[] = []
  #outboxBytes = 0
  #overflowed = false
  readonly #recent = new Set<string>()
  #serial: Promise<unknown> | undefined
  /** While a takeover reads a dead node's inbox: events that came meanwhile, numbered after those. */
  #held: { event: ServerEvent; data: string; origin: string | undefined }[] | undefined
  /** The inbox entries whose events a takeover gave this session: a copy carried on later is dropped. */
  #taken: Set<string> | undefined
  /**
   * The latest calls whose end or record this session numbered (or took over numbered): over for
   * its device, which ends a call it holds at either. A call has one record, and nothing after it.
   */
  readonly #ended = new Map<string, 'callEnd' | 'record'>()
  /** The calls its device holds, as this session saw them begin, and since when: `settleHeldCalls`. */
  readonly #calls = new Map<string, number>()

  /** `continued`: a session taken over from its log, with the frames its device has not acknowledged. */
  constructor(init: {
    sessionId: string
    appKey: string
    accid: string
    deviceId: string
    limits: Limits
    continued?: { lastSeq: number; frames: { seq: number; text: string }[] }
  }) {
    this.sessionId = init.sessionId
    this.appKey = init.appKey
    this.accid = init.accid
    this.deviceId = init.deviceId
    this.#limits = init.limits
    if (init.continued) {
      this.#seq = init.continued.lastSeq
      for (const { seq, text } of init.continued.frames) {
        const ended = /"name":"(callEnd|record)"/.exec(text)?.[1] as 'callEnd' | 'record' | undefined
        if (ended) this.#noteEnded(endedIn(text), ended)
        const bytes = Buffer.byteLength(text)
        this.#outbox.push({ seq, text, bytes })
        this.#outboxBytes += bytes
      }
    }
  }

  /** This device's request budgets, made on first use: most idle devices never need one. */
  get meter(): RequestMeter {
    return (this.#meter ??= new RequestMeter(this.#limits))
  }

  /** `origin`: the inbox entry the event came from, if it came through one. */
  event(event: ServerEvent, dataJson = JSON.stringify(event.data), origin?: string): void {
    if (this.#held) {
      this.#held.push({ event, data: dataJson, origin })
      return
    }
    // Once a call's record is numbered, nothing more of the call is: one that ended out of its
    // device's sight was ended for it (`settleHeldCalls`) before its own events came, and a late
    // copy of an earlier event (an invite) would ring the device for a call that is over.
    const callId = (event.data as { callId?: unknown }).callId
    if (typeof callId === 'string' && this.#ended.get(callId) === 'record') return
    if (event.name === 'callEnd' || event.name === 'record') {
      this.#noteEnded(event.data.callId, event.name)
      this.#calls.delete(event.data.callId)
    } else if (event.name === 'invited') this.holdsCall(event.data.callId)
    else if (event.name === 'otherClientAccept' || event.name === 'otherClientReject') {
      this.#calls.delete(event.data.callId)
    }
    const seq = ++this.#seq
    this.#push(seq, `{"type":"event","seq":${seq},"name":"${event.name}","data":${dataJson}}`, origin)
  }

  /** The device holds the call from now on (it placed it, was rung, or said so when resuming). */
  holdsCall(callId: string, now = Date.now()): void {
    if (this.#ended.has(callId) || this.#calls.has(callId)) return
    this.#calls.set(callId, now)
    if (this.#calls.size > MAX_HELD_CALLS) this.#calls.delete(this.#calls.keys().next().value!)
  }

  heldCalls(): [callId: string, since: number][] {
    return [...this.#calls]
  }

  letGoOfCall(callId: string): void {
    this.#calls.delete(callId)
  }

  /** Whether this session numbered the end of the call: its device hears (or heard) it from here. */
  endedCall(callId: string): boolean {
    return this.#ended.has(callId)
  }

  #noteEnded(callId: string, name: 'callEnd' | 'record'): void {
    this.#ended.delete(callId)
    this.#ended.set(callId, name)
    if (this.#ended.size > RECENT_ENDS) this.#ended.delete(this.#ended.keys().next().value!)
  }

  /** Events from now on wait until `takeEvents`: those a dead node's inbox held go first. */
  holdEvents(): void {
    this.#held ??= []
  }

  /**
   * Numbers `events` (a dead node's inbox held them for this device), then the events held since
   * `holdEvents`, each once: one whose entry was taken already is dropped.
   */
  takeEvents(events: readonly { event: ServerEvent; origin: string }[]): void {
    const held = this.#held ?? []
    this.#held = undefined
    for (const { event, origin } of events) {
      if (this.tookOrigin(origin)) continue
      ;(this.#taken ??= new Set()).add(origin)
      this.event(event, JSON.stringify(event.data), origin)
    }
    for (const { event, data, origin } of held) {
      if (origin === undefined || !this.tookOrigin(origin)) this.event(event, data, origin)
    }
  }

  /** Whether a takeover gave this session the event of inbox entry `origin` already. */
  tookOrigin(origin: string): boolean {
    return this.#taken?.has(origin) ?? false
  }

  /**
   * `replay: false` for a reply the device can simply ask for again (`history`): it goes to the socket
   * only, with seq 0, so it is neither numbered nor kept; a device that missed it resends the request.
   */
  reply(id: string, result: unknown, replay = true): void {
    if (!replay) return this.#sendNow(JSON.stringify({ type: 'reply', id, seq: 0, result }))
    const seq = ++this.#seq
    this.#push(seq, JSON.stringify({ type: 'reply', id, seq, result }))
  }

  error(id: string, error: ErrorBody, replay = true): void {
    if (!replay) return this.#sendNow(JSON.stringify({ type: 'error', id, seq: 0, error }))
    const seq = ++this.#seq
    this.#push(seq, JSON.stringify({ type: 'error', id, seq, error }))
  }

  /**
   * Runs `task` once the previous one given here has finished: a device asking for many history
   * pages at once has one of them in memory at a time, not all.
   */
  serially<T>(task: () => Promise<T>): Promise<T> {
    const run = (this.#serial ?? Promise.resolve()).then(task, task)
    this.#serial = run.catch(() => {})
    return run
  }

  /** True the first time a request id is seen. */
  firstSight(requestId: string): boolean {
    if (this.#recent.has(requestId)) return false
    this.#recent.add(requestId)
    if (this.#recent.size > RECENT_REQUESTS) {
      const oldest = this.#recent.values().next().value
      if (oldest !== undefined) this.#recent.delete(oldest)
    }
    return true
  }

  /** The device has every frame up to `seq`. */
  ack(seq: number): void {
    let drop = 0
    while (drop < this.#outbox.length && this.#outbox[drop]!.seq <= seq)
      this.#outboxBytes -= this.#outbox[drop++]!.bytes
    if (drop > 0) this.#outbox.splice(0, drop)
    this.journal?.acked(seq)
  }

  /** Reattaches a socket, sending what the device missed after `lastSeq`; false when that is lost. */
  resume(socket: WebSocket, lastSeq: number): boolean {
    if (this.#overflowed || lastSeq > this.#seq) return false
    const first = this.#outbox[0]
    if (first && first.seq > lastSeq + 1) return false
    this.ack(lastSeq)
    this.socket = socket
    for (const frame of this.#outbox) sendFrame(socket, frame.text, this.#limits.slowReader.bufferedBytes)
    return true
  }

  /** False once the outbox passed its bounds: what the device missed is lost. */
  get resumable(): boolean {
    return !this.#overflowed
  }

  get pendingFrames(): number {
    return this.#outbox.length
  }

  /** What the outbox holds, in bytes of UTF-8. */
  get heldBytes(): number {
    return this.#outboxBytes
  }

  #push(seq: number, text: string, origin?: string): void {
    // Before the bound is checked: a frame past it still reaches the node the session moved to.
    this.journal?.framed(seq, text, origin)
    if (!this.#overflowed) {
      const bytes = Buffer.byteLength(text)
      this.#outbox.push({ seq, text, bytes })
      this.#outboxBytes += bytes
      const { frames, bytes: maxBytes } = this.#limits.outbox
      if (this.#outbox.length > frames || this.#outboxBytes > maxBytes) {
        // Resuming needs every frame, so once one is dropped the rest are no use either.
        this.#overflowed = true
        this.#outbox = []
        this.#outboxBytes = 0
        // The log goes with it; a session that moved on keeps carrying frames to its device.
        if (this.movedTo === undefined) this.journal?.close(true)
      }
    }
    this.#sendNow(text)
  }

  #sendNow(text: string): void {
    if (this.socket) sendFrame(this.socket, text, this.#limits.slowReader.bufferedBytes)
  }
}

/** The call a `callEnd` or `record` frame is about. */
function endedIn(text: string): string {
  return String((JSON.parse(text) as { data?: { callId?: unknown } }).data?.callId)
}
