import type { ErrorBody, ServerEvent } from '@ringkit/protocol'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/**
 * How many unacknowledged frames a session keeps for a device that may resume; past that it
 * cannot. Devices acknowledge every 64 frames and every heartbeat, so a live one stays far below;
 * the cap bounds what a device that never acknowledges can make the server hold.
 */
const OUTBOX_LIMIT = 512
/** How many request ids a session remembers, so a resent request is not run twice. */
const RECENT_REQUESTS = 256

/**
 * One logged-in device. It outlives its socket for the grace period: frames sent meanwhile wait in
 * the outbox, numbered, and a resuming device gets every one it has not acknowledged, in order.
 */
export class Session {
  readonly sessionId: string
  readonly appKey: string
  readonly accid: string
  readonly deviceId: string
  socket: WebSocket | undefined
  graceTimer: NodeJS.Timeout | undefined
  tokenTimer: NodeJS.Timeout | undefined
  #seq = 0
  #outbox: { seq: number; text: string }[] = []
  #overflowed = false
  readonly #recent = new Set<string>()

  constructor(init: { sessionId: string; appKey: string; accid: string; deviceId: string }) {
    this.sessionId = init.sessionId
    this.appKey = init.appKey
    this.accid = init.accid
    this.deviceId = init.deviceId
  }

  event(event: ServerEvent, dataJson = JSON.stringify(event.data)): void {
    const seq = ++this.#seq
    this.#push(seq, `{"type":"event","seq":${seq},"name":"${event.name}","data":${dataJson}}`)
  }

  reply(id: string, result: unknown): void {
    const seq = ++this.#seq
    this.#push(seq, JSON.stringify({ type: 'reply', id, seq, result }))
  }

  error(id: string, error: ErrorBody): void {
    const seq = ++this.#seq
    this.#push(seq, JSON.stringify({ type: 'error', id, seq, error }))
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
    while (drop < this.#outbox.length && this.#outbox[drop]!.seq <= seq) drop++
    if (drop > 0) this.#outbox.splice(0, drop)
  }

  /** Reattaches a socket, sending what the device missed after `lastSeq`; false when that is lost. */
  resume(socket: WebSocket, lastSeq: number): boolean {
    if (this.#overflowed || lastSeq > this.#seq) return false
    const first = this.#outbox[0]
    if (first && first.seq > lastSeq + 1) return false
    this.ack(lastSeq)
    this.socket = socket
    for (const frame of this.#outbox) socket.send(frame.text)
    return true
  }

  get pendingFrames(): number {
    return this.#outbox.length
  }

  #push(seq: number, text: string): void {
    this.#outbox.push({ seq, text })
    if (this.#outbox.length > OUTBOX_LIMIT) {
      this.#outbox.shift()
      this.#overflowed = true
    }
    const socket = this.socket
    if (!socket || socket.readyState !== socket.OPEN) return
    corkForThisTick(socket)
    socket.send(text)
  }
}

/**
 * Holds a socket's writes until the end of the current tick, so the frames one action sends a
 * device (say userReject, callEnd and record) leave in one system call instead of one each.
 * Reaches into ws's underlying net.Socket, which ws exposes but does not document.
 */
function corkForThisTick(socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Socket })._socket
  if (!raw || raw.writableCorked > 0) return
  raw.cork()
  process.nextTick(() => raw.uncork())
}
