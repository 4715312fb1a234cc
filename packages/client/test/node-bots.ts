import wrtc from '@roamhq/wrtc'
import WebSocket from 'ws'
import { RingKit, type RingKitEvents, type RingKitOptions, type WebSocketConstructor } from '../src/index.ts'
import { syntheticMediaDevices } from '../src/node/synthetic.ts'
import { tokenFor, type ServerTarget } from '../../server/test/support.ts'

/** Node test devices: RingKit clients with WebRTC from @roamhq/wrtc and a synthetic camera and microphone. */

const bots: RingKit[] = []

/** A logged-in bot on `server`; `options` are passed on to RingKit. */
export async function wrtcBot(
  server: ServerTarget,
  accid: string,
  options: Partial<RingKitOptions> = {},
): Promise<RingKit> {
  const kit = new RingKit({
    server: server.url,
    appKey: server.app.appKey,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    RTCPeerConnection: wrtc.RTCPeerConnection as unknown as new (c: RTCConfiguration) => RTCPeerConnection,
    mediaDevices: syntheticMediaDevices(wrtc),
    ...options,
  })
  bots.push(kit)
  await kit.login({ accid, token: await tokenFor(server, accid) })
  return kit
}

/**
 * Logs every bot out, runs `stop` (servers and the like) in order, then leaves the process:
 * libwebrtc in @roamhq/wrtc can crash while the process tears down.
 */
export async function retireBots(...stop: Array<() => Promise<unknown>>): Promise<void> {
  await Promise.all(bots.map(async (kit) => kit.logout().catch(() => {})))
  for (const step of stop) await step()
  setTimeout(() => process.exit(process.exitCode ?? 0), 200)
}

/** The next `name` event of `kit` that matches, or a rejection after `timeoutMs`. */
export function next<K extends keyof RingKitEvents>(
  kit: RingKit,
  name: K,
  match: (payload: RingKitEvents[K]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<RingKitEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kit.accid}: no ${name} in ${timeoutMs} ms`)), timeoutMs)
    const off = kit.on(name, (payload) => {
      if (!match(payload)) return
      clearTimeout(timer)
      off()
      resolve(payload)
    })
  })
}
