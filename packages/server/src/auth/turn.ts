import { createHmac } from 'node:crypto'
import type { IceServer } from '@ringkit/protocol'

export interface IceConfig {
  /** STUN URLs handed to every device, e.g. `stun:stun.example.com:3478`. */
  stunUrls?: string[]
  /** TURN URLs, e.g. `turn:turn.example.com:3478?transport=udp`. */
  turnUrls?: string[]
  /** coturn's `static-auth-secret` (`use-auth-secret`): devices get time-limited credentials. */
  turnSecret?: string | undefined
  /** Lifetime of TURN credentials; default 1 hour. */
  turnTtlSeconds?: number
}

export const DEFAULT_TURN_TTL_SECONDS = 3600

/**
 * The ICE servers for one device: STUN as configured, and TURN with credentials in the TURN REST
 * scheme coturn accepts with `use-auth-secret` — username `expiry:accid`, password
 * base64(HMAC-SHA1(secret, username)) — so no TURN password is ever stored or shared.
 */
export function iceServersFor(config: IceConfig, accid: string, nowMs = Date.now()): IceServer[] {
  const servers: IceServer[] = []
  if (config.stunUrls?.length) servers.push({ urls: config.stunUrls })
  if (config.turnUrls?.length) {
    if (config.turnSecret) {
      const expiry = Math.floor(nowMs / 1000) + (config.turnTtlSeconds ?? DEFAULT_TURN_TTL_SECONDS)
      const username = `${expiry}:${accid}`
      const credential = createHmac('sha1', config.turnSecret).update(username).digest('base64')
      servers.push({ urls: config.turnUrls, username, credential })
    } else {
      servers.push({ urls: config.turnUrls })
    }
  }
  return servers
}
