import type { Logger } from 'pino'
import type { CallEventSink } from '../calls/ports.ts'
import type { WebhookOutbox } from '../webhooks/outbox.ts'
import type { PushRinger } from './ringer.ts'

/**
 * How a call reaches beyond the devices online: the app backend's webhooks, and Web Push to
 * accounts whose pages are closed. A push is sent beside the call, never in its way.
 */
export function callReach(
  webhooks: WebhookOutbox,
  push: PushRinger,
  online: (appKey: string, accid: string) => Promise<boolean>,
  log: Pick<Logger, 'warn'>,
): CallEventSink {
  const failed = (error: unknown) => log.warn({ err: error }, 'a call push failed')
  return {
    async add(appKey, callId, events) {
      await webhooks.add(appKey, callId, events)
      for (const event of events) {
        const offline = event.data.offlineCallees
        if (event.type !== 'call.ringing' || !Array.isArray(offline) || offline.length === 0) continue
        const call = event.data.call as { type: 'audio' | 'video'; isGroup: boolean; expiresAt: number }
        void push
          .ring({ appKey, callId, caller: String(event.data.caller), ...call, callees: offline as string[] })
          .catch(failed)
      }
    },
    async ringsOffline(appKey, accid) {
      if (await webhooks.ringsOffline(appKey)) return true
      return push.has(appKey, accid).catch(() => false)
    },
    recorded(appKey, record) {
      webhooks.recorded()
      void push.ended(appKey, record, async (accid) => online(appKey, accid)).catch(failed)
    },
  }
}
