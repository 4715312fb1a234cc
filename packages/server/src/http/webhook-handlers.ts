import { randomUUID } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { RingKitError } from '@ringkit/protocol'
import type { App, Store, WebhookEndpoint } from '../store/types.ts'
import { newWebhookSecret } from '../webhooks/signing.ts'
import type { Handlers } from './routes.ts'

/** How many endpoints one app may register: each event is written and sent once per endpoint. */
export const MAX_WEBHOOKS_PER_APP = 16

export interface WebhookRouteOptions {
  store: Store
  /** Refuse endpoints on loopback and private networks (servers shared by apps that do not trust each other). */
  denyPrivate: boolean
  /** This node's endpoints of the app changed. */
  changed: (appKey: string) => void
}

type WebhookRoutes = 'createWebhook' | 'listWebhooks' | 'deleteWebhook' | 'listDeliveries' | 'redeliver'

/** The webhook routes of the REST API. */
export function webhookHandlers(
  o: WebhookRouteOptions,
  appOf: (request: Parameters<Handlers['listWebhooks']>[0]['request']) => App,
): Pick<Handlers, WebhookRoutes> {
  const { store } = o
  const missing = (id: string): never => {
    throw new RingKitError('WEBHOOK_NOT_FOUND', `no webhook endpoint "${id}" in this app`)
  }
  return {
    createWebhook: async ({ body, request }) => {
      const { appKey } = appOf(request)
      await checkUrl(body.url, o.denyPrivate)
      const endpoint: WebhookEndpoint = {
        id: `ep_${randomUUID()}`,
        url: body.url,
        events: body.events ? [...new Set(body.events)] : null,
        secret: newWebhookSecret(),
        disabled: false,
        createdAt: Date.now(),
      }
      if (!(await store.createWebhook(appKey, endpoint, MAX_WEBHOOKS_PER_APP))) {
        throw new RingKitError('TOO_MANY_WEBHOOKS', `an app has at most ${MAX_WEBHOOKS_PER_APP} webhook endpoints`)
      }
      o.changed(appKey)
      return endpoint
    },
    listWebhooks: async ({ request }) => ({ webhooks: await store.listWebhooks(appOf(request).appKey) }),
    deleteWebhook: async ({ params: { id }, request }) => {
      const { appKey } = appOf(request)
      if (!(await store.deleteWebhook(appKey, id))) missing(id)
      o.changed(appKey)
      return { id, deleted: true }
    },
    listDeliveries: async ({ params: { id }, query, request }) => {
      const deliveries = await store.listWebhookAttempts(appOf(request).appKey, id, query.limit)
      return { deliveries: deliveries ?? missing(id) }
    },
    redeliver: async ({ params: { id }, body: { eventId }, request }) => {
      const { appKey } = appOf(request)
      const done = await store.redeliverWebhook(appKey, id, eventId, Date.now())
      if (done === 'noEndpoint') missing(id)
      if (done === 'noEvent') throw new RingKitError('EVENT_NOT_FOUND', `no webhook event "${eventId}" in this app`)
      o.changed(appKey)
      return { eventId, queued: true }
    },
  }
}

/** Loopback, private, link-local and other addresses no public endpoint has (RFC 6890's special ones). */
const PRIVATE = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4')
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6')
}

const isPrivate = (address: string): boolean => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped) return PRIVATE.check(mapped, 'ipv4')
  return PRIVATE.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')
}

/** An http(s) URL; with `denyPrivate`, one whose host resolves to public addresses only. */
async function checkUrl(text: string, denyPrivate: boolean): Promise<void> {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new RingKitError('WEBHOOK_URL_REFUSED', 'the webhook URL is not a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RingKitError('WEBHOOK_URL_REFUSED', 'the webhook URL must be http or https')
  }
  if (!denyPrivate) return
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address)
  if (addresses.length === 0) throw new RingKitError('WEBHOOK_URL_REFUSED', `"${host}" does not resolve`)
  if (addresses.some(isPrivate)) {
    throw new RingKitError('WEBHOOK_URL_REFUSED', 'this server refuses webhook endpoints on private networks')
  }
}
