import { missedBy, RingKitError, type CallRecord, type ClientMessageOf } from '@ringkit/protocol'
import type { Store } from '../store/types.ts'
import { MAX_PUSH_SUBSCRIPTIONS } from './ringer.ts'

/** How many missed calls a login is told of at most, and how many records are read to find them. */
const MAX_MISSED_CALLS = 20
const RECORDS_READ = 50

/** What the gateway asks of push and missed calls, per device. */
export interface DeviceReach {
  vapidPublicKey: string
  /** Keeps or removes the device's subscription; INVALID_PARAMS for an endpoint that is not a push service's. */
  subscribe(appKey: string, accid: string, deviceId: string, msg: ClientMessageOf<'push'>): Promise<void>
  /** The device signed out: its subscription goes. Never rejects. */
  forget(appKey: string, accid: string, deviceId: string): Promise<void>
  /** The calls the account missed since its last device went away; none while another device is online. */
  missedCalls(appKey: string, accid: string, othersOnline: () => Promise<boolean>): Promise<CallRecord[]>
}

/**
 * The hosts of the browsers' push services (Chrome, Firefox, Safari, Edge). A subscription names a
 * URL the server will POST to: one outside these is refused, so that a device cannot point the
 * server at an address of its choosing.
 */
const PUSH_SERVICE_HOSTS = [
  'fcm.googleapis.com',
  'updates.push.services.mozilla.com',
  'push.services.mozilla.com',
  'web.push.apple.com',
  'notify.windows.com',
]

export const isPushService = (url: URL): boolean =>
  url.protocol === 'https:' &&
  PUSH_SERVICE_HOSTS.some((host) => url.hostname === host || url.hostname.endsWith(`.${host}`))

export function deviceReach(
  store: Store,
  vapidPublicKey: string,
  endpointAllowed: (url: URL) => boolean = isPushService,
): DeviceReach {
  return {
    vapidPublicKey,
    async subscribe(appKey, accid, deviceId, msg) {
      if (msg.subscription === null) return store.deletePushSubscription(appKey, accid, deviceId)
      if (!endpointAllowed(new URL(msg.subscription.endpoint))) {
        throw new RingKitError('INVALID_PARAMS', 'subscription.endpoint: not a push service this server sends to')
      }
      if (!msg.server) throw new RingKitError('INVALID_PARAMS', 'server: required with a subscription')
      await store.putPushSubscription(
        appKey,
        accid,
        {
          deviceId,
          endpoint: msg.subscription.endpoint,
          p256dh: msg.subscription.keys.p256dh,
          auth: msg.subscription.keys.auth,
          lang: msg.lang ?? 'en',
          server: msg.server.replace(/\/+$/, ''),
          createdAt: Date.now(),
        },
        MAX_PUSH_SUBSCRIPTIONS,
      )
    },
    async forget(appKey, accid, deviceId) {
      await store.deletePushSubscription(appKey, accid, deviceId).catch(() => {})
    },
    async missedCalls(appKey, accid, othersOnline) {
      const since = await store.offlineSince(appKey, accid)
      if (since === undefined || (await othersOnline())) return []
      const { records } = await store.listRecords(appKey, accid, { limit: RECORDS_READ })
      return records.filter((r) => r.endedAt > since && missedBy(r, accid)).slice(0, MAX_MISSED_CALLS)
    },
  }
}
