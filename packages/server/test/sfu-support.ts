import assert from 'node:assert/strict'
import wrtc from '@roamhq/wrtc'
import type { DeviceRef, RingKitError, SfuServerMessage } from '@ringkit/protocol'
import { SfuCalls, type SfuCallsOptions } from '../src/sfu/index.ts'
import { SfuMedia } from '../../client/src/media/SfuMedia.ts'
import type { MediaEvent } from '../../client/src/media/WebRtcMedia.ts'
import { syntheticMediaDevices } from '../../client/src/node/synthetic.ts'

export const APP = 'app-sfu'

export interface Device {
  ref: DeviceRef
  media: SfuMedia
  events: MediaEvent[]
  /** Every offer the server sent this device, as it arrived. */
  offers: SfuServerMessage[]
  /** Answers the device sent. */
  answers: number
}

/**
 * One group call's relay without a RingKit server: SfuCalls.send goes to the device's
 * SfuMedia.handleSfu and each SfuMedia's `sfu()` to SfuCalls.handle, both through JSON as on the
 * wire. Everything a device receives is kept in `wire`.
 */
export class Relay {
  readonly sfu: SfuCalls
  readonly callId: string
  readonly wire: string[] = []
  readonly lost: string[] = []
  /** Offers sent to a device whose previous offer was not answered yet: the server must never do that. */
  readonly overlapping: string[] = []
  /** What went wrong on the wire: device messages the relay refused, offers for another call. */
  readonly faults: string[] = []
  /** Messages from devices, counted by kind (and target, for candidates). */
  readonly received = new Map<string, number>()
  readonly #devices = new Map<string, Device>()

  /** `more` makes it one node of several: its own Janus list and the shared room registry. */
  constructor(
    janus: { url: string; apiSecret: string },
    callId: string,
    more: Partial<Pick<SfuCallsOptions, 'urls' | 'rooms'>> = {},
  ) {
    this.callId = callId
    this.sfu = new SfuCalls({
      urls: [janus.url],
      apiSecret: janus.apiSecret,
      requestTimeoutMs: 3_000,
      ...more,
      send: (appKey, to, device, data) => {
        if (appKey !== APP || to !== callId) this.faults.push(`an offer for ${appKey} ${to}`)
        const offer = this.#deliver<SfuServerMessage>(data)
        const target = this.#devices.get(device.deviceId)
        if (!target) return
        if (target.offers.length > target.answers) this.overlapping.push(device.accid)
        target.offers.push(offer)
        void target.media.handleSfu(offer)
      },
      onCallLost: (appKey, lostCallId) => this.lost.push(`${appKey} ${lostCallId}`),
    })
  }

  device(accid: string, type: 'audio' | 'video' = 'video'): Device {
    const ref = { accid, deviceId: `${accid}-phone` }
    const events: MediaEvent[] = []
    const env = {
      RTCPeerConnection: wrtc.RTCPeerConnection as unknown as new (c: RTCConfiguration) => RTCPeerConnection,
      mediaDevices: syntheticMediaDevices(wrtc),
      iceServers: [],
    }
    const media = new SfuMedia(env, {
      type,
      me: accid,
      sfu: async (message) => {
        if (message.kind === 'answer') device.answers++
        const kind =
          message.kind === 'candidate' ? `${message.target} candidate${message.candidate ? '' : ' end'}` : message.kind
        this.received.set(kind, (this.received.get(kind) ?? 0) + 1)
        try {
          return this.#deliver(await this.sfu.handle(APP, this.callId, ref, JSON.parse(JSON.stringify(message))))
        } catch (error) {
          this.faults.push(`${accid} ${message.kind} refused: ${(error as RingKitError).code}`)
          this.#deliver(error)
          throw error
        }
      },
      emit: (event) => events.push(event),
      failed: (error) => events.push({ name: 'error', error }),
    })
    const device: Device = { ref, media, events, offers: [], answers: 0 }
    this.#devices.set(ref.deviceId, device)
    return device
  }

  async close(): Promise<void> {
    for (const device of this.#devices.values()) device.media.close()
    await this.sfu.shutdown()
  }

  /** What the device gets: the JSON a WebSocket would carry (errors as their `toJSON()`). */
  #deliver<T>(data: unknown): T {
    const json = JSON.stringify(data)
    this.wire.push(json)
    return JSON.parse(json) as T
  }
}

/** Bytes received per stream of the latest offer, with the member and kind the server mapped it to. */
export async function inbound(device: Device): Promise<Map<string, { accid: string; kind: string; bytes: number }>> {
  const streams = new Map(device.offers.at(-1)?.streams.map((stream) => [stream.mid, stream]))
  const found = new Map<string, { accid: string; kind: string; bytes: number }>()
  ;(await device.media.subscriberConnection?.getStats())?.forEach((report: Record<string, unknown>) => {
    const stream = report.type === 'inbound-rtp' ? streams.get(String(report.mid)) : undefined
    if (stream) found.set(stream.mid, { accid: stream.accid, kind: stream.kind, bytes: Number(report.bytesReceived) })
  })
  return found
}

/** Over two seconds, each device's bytes grow on exactly one audio and one video stream of each other member. */
export async function assertFlowing(devices: Device[]): Promise<void> {
  const before = await Promise.all(devices.map(inbound))
  await sleep(2_000)
  const after = await Promise.all(devices.map(inbound))
  devices.forEach((device, i) => {
    const growing = [...(after[i] ?? new Map()).entries()]
      .filter(([mid, now]) => now.bytes > (before[i]?.get(mid)?.bytes ?? Infinity))
      .map(([, { accid, kind }]) => `${accid} ${kind}`)
      .sort()
    const expected = devices
      .filter((other) => other !== device)
      .flatMap((other) => [`${other.ref.accid} audio`, `${other.ref.accid} video`])
      .sort()
    assert.deepEqual(growing, expected, `${device.ref.accid} receives from the others`)
  })
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

export async function waitFor(condition: () => boolean, timeoutMs: number, explain = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms ${explain()}`)
    await sleep(50)
  }
}
