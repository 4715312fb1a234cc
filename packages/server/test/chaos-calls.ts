import WebSocket from 'ws'
import type { Call, WebSocketConstructor } from '@ringkit/client'
import { RingKitError } from '@ringkit/protocol'
import type { TestDevice } from './support.ts'

/** What the chaos suite places: each kind a different way for a call to go. */
export const KINDS = ['answered', 'rejected', 'missed', 'canceled', 'group'] as const
export type Kind = (typeof KINDS)[number]

/** One frame the SDK read: its seq, and for a login reply the session it names. */
export interface WireFrame {
  seq: number
  login?: { sessionId: string; resumed: boolean }
}

/**
 * The ws WebSocket, with every frame the SDK reads noted in `log` as it reads it: frames of a
 * socket the SDK already let go of are not noted, as the SDK does not read them either.
 */
export function tappedWebSocket(log: WireFrame[]): WebSocketConstructor {
  const setter = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!.set!
  class Tapped {
    constructor(url: string) {
      const socket = new WebSocket(url)
      let handler: ((event: { data: unknown }) => void) | null = null
      Object.defineProperty(socket, 'onmessage', {
        get: () => handler,
        set(next: typeof handler) {
          handler = next
          setter.call(
            socket,
            next &&
              ((event: { data: unknown }) => {
                log.push(wireFrame(String(event.data)))
                next(event)
              }),
          )
        },
      })
      return socket as unknown as Tapped
    }
  }
  return Tapped as unknown as WebSocketConstructor
}

function wireFrame(text: string): WireFrame {
  const frame = JSON.parse(text) as { type?: string; id?: string | null; seq?: number; result?: unknown }
  const seq = frame.seq ?? 0
  const result = frame.result as { sessionId?: unknown; resumed?: unknown } | undefined
  if (frame.type === 'reply' && frame.id?.startsWith('login-') && typeof result?.sessionId === 'string') {
    return { seq, login: { sessionId: result.sessionId, resumed: result.resumed === true } }
  }
  return { seq }
}

/**
 * Reads a device's frames in order: each session's numbered frames must run 1, 2, 3, … across
 * every socket that resumed it, none missing and none twice. Counts the logins that resumed and
 * those that began a new session.
 */
export function checkSequence(log: WireFrame[]): { resumed: number; fresh: number; problems: string[] } {
  let last = 0
  let resumed = 0
  let fresh = 0
  const problems: string[] = []
  for (const frame of log) {
    if (frame.seq === 0) continue
    if (frame.login && !frame.login.resumed) {
      // A new session numbers from 1; its reply is the first frame it sends.
      fresh++
      if (frame.seq !== 1) problems.push(`a new session began at seq ${frame.seq}`)
      last = frame.seq
      continue
    }
    if (frame.login) resumed++
    if (frame.seq !== last + 1) problems.push(`seq ${frame.seq} after ${last}${frame.seq <= last ? ' (again)' : ''}`)
    last = Math.max(last, frame.seq)
  }
  return { resumed, fresh, problems }
}

/** The error code a failed step ended with, for the counts of disrupted calls. */
export function codeOf(error: unknown): string {
  if (error instanceof RingKitError) return error.code
  return error instanceof Error
    ? error.message
        .replace(/^\S+: /, '')
        .split(';')[0]!
        .slice(0, 60)
    : String(error)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** How long a step waits for an event: a node killed meanwhile costs its devices a reconnect. */
const STEP_MS = 6000

export interface Placed {
  callId: string
  kind: Kind
  /** Whether every step went as the kind has it (a node dying may have cut it short). */
  clean: boolean
}

/**
 * Places one call of `kind` from `caller` to `callees` (two for a group call) and plays it to its
 * end. `onDecline` hears each caller → callee decline, which the server holds against the pair
 * for a while. A step a dying node cut short leaves the call to the cleanup and to the server.
 */
export async function placeCall(
  kind: Kind,
  caller: TestDevice,
  callees: TestDevice[],
  ringMs: number,
  onDecline: (callee: TestDevice) => void,
): Promise<Placed> {
  const [first, second] = callees as [TestDevice, TestDevice | undefined]
  const call =
    kind === 'group'
      ? await caller.kit.groupCall({ to: callees.map((d) => d.accid), type: 'audio', timeoutMs: ringMs })
      : await caller.kit.call({ to: first.accid, type: 'audio', timeoutMs: ringMs })
  const placed: Placed = { callId: call.callId, kind, clean: false }
  const invited = (device: TestDevice) =>
    device.next('invited', (e) => e.call.callId === call.callId, STEP_MS).then((e) => e.call)
  try {
    switch (kind) {
      case 'answered': {
        await (await invited(first)).accept()
        await caller.next('userAccept', (e) => e.call.callId === call.callId, STEP_MS)
        await sleep(150)
        await (Math.random() < 0.5 ? call : first.kit.calls.find((c) => c.callId === call.callId)!).hangup()
        break
      }
      case 'rejected':
        await (await invited(first)).reject()
        onDecline(first)
        await caller.next('userReject', (e) => e.call.callId === call.callId, STEP_MS)
        break
      case 'missed':
        await invited(first)
        await caller.next('callingTimeout', (e) => e.call.callId === call.callId, ringMs + STEP_MS)
        break
      case 'canceled':
        await invited(first)
        await call.cancel()
        break
      case 'group': {
        await (await invited(first)).accept()
        await caller.next('userAccept', (e) => e.call.callId === call.callId, STEP_MS)
        const other = await invited(second!)
        if (Math.random() < 0.5) {
          await other.reject()
          onDecline(second!)
        }
        await sleep(150)
        await call.hangup()
        break
      }
    }
    await caller.next('record', (r) => r.callId === call.callId, STEP_MS)
    placed.clean = true
  } catch {
    // Cut short: the cleanup below and the server's own deadlines end it.
  }
  if (!placed.clean) await endWhatIsLeft(call.callId, [caller, ...callees], onDecline)
  return placed
}

/** Ends a call from every device still holding it, each as its part allows. */
async function endWhatIsLeft(callId: string, devices: TestDevice[], onDecline: (callee: TestDevice) => void) {
  for (const device of devices) {
    const call: Call | undefined = device.kit.calls.find((c) => c.callId === callId)
    if (!call) continue
    if (call.status === 'connected') await call.hangup().catch(() => {})
    else if (call.role === 'caller') await call.cancel().catch(() => {})
    else
      await call.reject().then(
        () => onDecline(device),
        () => {},
      )
  }
}
