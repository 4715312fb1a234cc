// A Node bot's TypeScript: the @ringkit/client/node subpath with the optional @roamhq/wrtc peer.
import wrtc from '@roamhq/wrtc'
import { RingKit, type WebSocketConstructor } from '@ringkit/client'
import { syntheticMediaDevices, type SyntheticOptions } from '@ringkit/client/node'

declare const WebSocket: WebSocketConstructor
const camera: SyntheticOptions = { width: 320, height: 240, fps: 15 }
const kit = new RingKit({
  server: 'http://localhost:3000',
  appKey: 'key',
  WebSocket,
  RTCPeerConnection: wrtc.RTCPeerConnection,
  mediaDevices: syntheticMediaDevices(wrtc, camera),
})
export { kit }
