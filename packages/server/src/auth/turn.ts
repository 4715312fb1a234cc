import { createHmac } from 'node:crypto'
import type { IceServer } from '@ringkit/protocol'

export interface IceConfig {
  /** STUN URLs handed to every device, e.g. `stun:stun.example.com:3478`. */
  stunUrls?: string[]
  /** TURN URLs, e.g. `turn:turn.example.com:3478?transport=udp`. */
  turnUrls?: string[]
  /** coturn's `static-auth-secret` (`use-auth-secret`): the parties of a call get credentials for it. */
  turnSecret?: string | undefined
}

/** The secret the shipped coturn config carries until an admin changes it. */
export const PLACEHOLDER_TURN_SECRET = 'CHANGE-ME-to-the-value-of-RINGKIT_TURN_SECRET'

/** Refuses a TURN secret anyone can read in the repository. */
export function checkIceConfig(config: IceConfig): void {
  if (config.turnSecret === PLACEHOLDER_TURN_SECRET) {
    throw new Error('the TURN secret is the placeholder of the shipped coturn config: set your own in both')
  }
}

/**
 * What every logged-in device may know: STUN, and TURN URLs that need no credential from us.
 * TURN credentials come only with a call, so that logging in (an anonymous sign-up, say) does
 * not buy a relay.
 */
export function sessionIceServers(config: IceConfig): IceServer[] {
  const servers: IceServer[] = []
  if (config.stunUrls?.length) servers.push({ urls: config.stunUrls })
  if (config.turnUrls?.length && !config.turnSecret) servers.push({ urls: config.turnUrls })
  return servers
}

/**
 * The ICE servers for one party of a call: STUN, and TURN with credentials valid for
 * `validForSeconds`, in the TURN REST scheme coturn accepts with `use-auth-secret` — username
 * `expiry:accid`, password base64(HMAC-SHA1(secret, username)) — so no TURN password is stored.
 */
export function callIceServers(
  config: IceConfig,
  accid: string,
  validForSeconds: number,
  nowMs = Date.now(),
): IceServer[] {
  const servers = sessionIceServers(config)
  if (config.turnUrls?.length && config.turnSecret) {
    const expiry = Math.floor(nowMs / 1000) + Math.ceil(validForSeconds)
    const username = `${expiry}:${accid}`
    const credential = createHmac('sha1', config.turnSecret).update(username).digest('base64')
    servers.push({ urls: config.turnUrls, username, credential })
  }
  return servers
}
