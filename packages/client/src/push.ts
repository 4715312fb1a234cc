import { RingKitError } from '@ringkit/protocol'
import type { PushOptions } from './types.ts'

/** The query parameter ringkit-sw.js opens the app with, naming the call to answer. */
export const CALL_PARAMETER = 'ringkitCall'

/** A VAPID public key as `pushManager.subscribe()` takes it: base64url → bytes. */
export function applicationServerKey(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/** This browser's subscription for the server's key, made (or kept) on the app's registration. */
export async function subscribe(options: PushOptions, vapidPublicKey: string | undefined) {
  if (!vapidPublicKey) throw new RingKitError('INVALID_STATE', 'Log in first: the server gives its push key at login.')
  const { pushManager } = options.serviceWorker
  const key = applicationServerKey(vapidPublicKey)
  let subscription = await pushManager.getSubscription()
  const current = subscription?.options.applicationServerKey
  // A subscription made for another server's key cannot carry this server's pushes.
  if (subscription && current && !sameBytes(new Uint8Array(current), key)) {
    await subscription.unsubscribe()
    subscription = null
  }
  subscription ??= await pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
  const json = subscription.toJSON()
  const p256dh = json.keys?.p256dh
  const auth = json.keys?.auth
  if (!json.endpoint || !p256dh || !auth)
    throw new RingKitError('MEDIA_FAILED', 'The browser made no usable push subscription.')
  return { endpoint: json.endpoint, keys: { p256dh, auth } }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i])

/** The callId a notification opened this page to answer, if it did. */
export function callFromLocation(href: string | undefined = globalThis.location?.href): string | undefined {
  if (!href) return undefined
  return new URL(href).searchParams.get(CALL_PARAMETER) ?? undefined
}

/**
 * The callId a notification opened this page to answer, taken off the page's address so that a
 * reload answers nothing. Undefined outside a browser, or when the page names no call.
 */
export function takeCallFromNotification(): string | undefined {
  const callId = callFromLocation()
  if (callId && globalThis.history && globalThis.location) {
    const url = new URL(globalThis.location.href)
    url.searchParams.delete(CALL_PARAMETER)
    globalThis.history.replaceState(globalThis.history.state, '', url.href)
  }
  return callId
}
