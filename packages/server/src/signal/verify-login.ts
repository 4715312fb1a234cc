import { RingKitError, type ClientMessageOf } from '@ringkit/protocol'
import { verifyToken, type VerifiedToken } from '../auth/tokens.ts'
import type { App, Store } from '../store/types.ts'

/**
 * The login's app and token. An unknown account is answered as a bad token is, TOKEN_INVALID with
 * the same message, so that a device cannot probe which accounts exist.
 */
export async function verifyLogin(
  store: Store,
  msg: ClientMessageOf<'login'>,
): Promise<{ app: App; verified: VerifiedToken }> {
  const app = await store.getApp(msg.appKey)
  if (!app) throw new RingKitError('APP_NOT_FOUND')
  const account = await store.getAccount(app.appKey, msg.accid)
  // The token is checked either way: an unknown account takes as long to refuse as a bad token.
  const verified = await verifyToken(msg.token, {
    ...app,
    accid: msg.accid,
    tokensValidAfter: account?.tokensValidAfter ?? 0,
  })
  if (!account) throw new RingKitError('TOKEN_INVALID')
  return { app, verified }
}
