import { RingKitError, type SfuClientMessage } from '@ringkit/protocol'

/** Half of a surrogate pair, or U+0000: text that JSON carries but Janus's parser (jansson) refuses. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const unreadable = (text: string) => text.includes('\u0000') || LONE_SURROGATE.test(text)

/**
 * Refuses, as the device's error, a message whose text Janus cannot read. Janus drops such a
 * request without answering, so relayed as it is it would wait out the request timeout and come
 * back SFU_UNAVAILABLE, blaming a media server that is fine.
 */
export function assertReadableByJanus(message: SfuClientMessage): void {
  const texts =
    message.kind === 'candidate' ? [message.candidate?.candidate, message.candidate?.sdpMid] : [message.description.sdp]
  for (const text of texts) {
    if (text != null && unreadable(text)) {
      throw new RingKitError('INVALID_PARAMS', 'The session description or candidate holds U+0000 or a lone surrogate.')
    }
  }
}
