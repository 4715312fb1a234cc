/**
 * One process of group-call bots for bench/group: RingKit clients with WebRTC from @roamhq/wrtc,
 * each sending a synthetic camera and microphone. Driven over IPC by bench/group.ts.
 */
import { performance } from 'node:perf_hooks'
import wrtc from '@roamhq/wrtc'
import WebSocket from 'ws'
import { RingKit, type Call, type WebSocketConstructor } from '../packages/client/src/index.ts'
import { syntheticMediaDevices } from '../packages/client/src/node/synthetic.ts'

export type BotCommand =
  | {
      op: 'login'
      server: string
      appKey: string
      bots: Array<{ accid: string; token: string }>
      video: Video
      /** Each callee answers after a random pause up to this long, as people do. */
      acceptSpreadMs: number
    }
  | { op: 'call'; from: string; to: string[] }
  | { op: 'sample' }
  | { op: 'hangup' }

export type BotReport =
  | { ev: 'ready' }
  | { ev: 'reply'; op: BotCommand['op']; result?: unknown; error?: string }
  /** Epoch milliseconds (high resolution, comparable across processes on one machine). */
  | { ev: 'accepted'; accid: string; at: number }
  /** `from`'s media arrived at `accid`. */
  | { ev: 'entered'; accid: string; from: string; at: number }
  | { ev: 'error'; accid: string; message: string }
  | { ev: 'ended'; accid: string; reason: string }

export interface Video {
  width: number
  height: number
  fps: number
  noise: number
}

/** Inbound RTP of one bot: per stream, bytes and frames decoded. */
export interface Sample {
  accid: string
  at: number
  streams: Array<{ id: string; kind: string; bytes: number; frames: number }>
}

const kits = new Map<string, RingKit>()
const calls = new Map<string, Call>()
const epochNow = () => performance.timeOrigin + performance.now()

// Once the bench disconnects, whatever a bot still has to say has nobody to hear it: the callback
// takes the failed send's error, which would otherwise crash the process.
const send = (report: BotReport) => {
  if (process.connected) process.send?.(report, undefined, {}, () => undefined)
}

async function login(command: Extract<BotCommand, { op: 'login' }>): Promise<void> {
  const mediaDevices = syntheticMediaDevices(wrtc, command.video)
  await Promise.all(
    command.bots.map(async ({ accid, token }) => {
      const kit = new RingKit({
        server: command.server,
        appKey: command.appKey,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        RTCPeerConnection: wrtc.RTCPeerConnection as unknown as new (c: RTCConfiguration) => RTCPeerConnection,
        mediaDevices,
        requestTimeoutMs: 30_000,
      })
      kit.on('error', ({ error }) => send({ ev: 'error', accid, message: `${error.code}: ${error.message}` }))
      kit.on('callEnd', ({ reason }) => send({ ev: 'ended', accid, reason }))
      kit.on('userEnter', (event) => send({ ev: 'entered', accid, from: event.accid, at: epochNow() }))
      kit.on('invited', ({ call }) => {
        calls.set(accid, call)
        setTimeout(() => {
          send({ ev: 'accepted', accid, at: epochNow() })
          call.accept().catch((error: unknown) => send({ ev: 'error', accid, message: String(error) }))
        }, Math.random() * command.acceptSpreadMs)
      })
      await kit.login({ accid, token })
      kits.set(accid, kit)
    }),
  )
}

async function sample(): Promise<Sample[]> {
  return Promise.all(
    [...calls].map(async ([accid, call]) => {
      const streams: Sample['streams'] = []
      // A call that ended has no connections left to read: it counts as receiving nothing.
      ;(await call.getStats().catch(() => undefined))?.forEach(
        (r: { id: string; type: string; kind?: string; bytesReceived?: number; framesDecoded?: number }) => {
          if (r.type !== 'inbound-rtp' || !r.kind) return
          streams.push({ id: r.id, kind: r.kind, bytes: r.bytesReceived ?? 0, frames: r.framesDecoded ?? 0 })
        },
      )
      return { accid, at: epochNow(), streams }
    }),
  )
}

process.on('message', (command: BotCommand) => {
  const run = async (): Promise<unknown> => {
    switch (command.op) {
      case 'login':
        return login(command)
      case 'call': {
        const kit = kits.get(command.from)
        if (!kit) throw new Error(`no bot ${command.from} here`)
        const call = await kit.groupCall({ to: command.to, type: 'video', timeoutMs: 60_000 })
        calls.set(command.from, call)
        return call.callId
      }
      case 'sample':
        return sample()
      case 'hangup':
        await Promise.all([...calls.values()].filter((c) => c.role === 'caller').map(async (c) => c.hangup()))
        return undefined
    }
  }
  run().then(
    (result) => send({ ev: 'reply', op: command.op, result }),
    (error: unknown) => send({ ev: 'reply', op: command.op, error: String(error) }),
  )
})

process.on('disconnect', () => {
  // libwebrtc in @roamhq/wrtc can crash while the process tears down: leave without tearing down.
  process.exit(0)
})
send({ ev: 'ready' })
