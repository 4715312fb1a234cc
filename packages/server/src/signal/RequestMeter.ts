import { RingKitError, type ClientMessageType } from '@ringkit/protocol'
import type { Limits, Rate } from '../limits.ts'
import { TokenBucket } from './TokenBucket.ts'

const bucket = (rate: Rate) => new TokenBucket(rate.perSecond, rate.burst)

/**
 * The budgets of one device for the requests that make the server read, copy or forward the most:
 * `history` (a database read of up to 100 records), `push` (a database write, at the same rate),
 * `signal` (copied to the call's other devices,
 * counted in messages and in bytes) and `sfu` (a request to Janus).
 */
export class RequestMeter {
  readonly #history: TokenBucket
  readonly #push: TokenBucket
  readonly #signal: TokenBucket
  readonly #signalBytes: TokenBucket
  readonly #sfu: TokenBucket

  constructor(limits: Limits) {
    this.#history = bucket(limits.history)
    this.#push = bucket(limits.history)
    this.#signal = bucket(limits.signal)
    this.#signalBytes = bucket(limits.signalBytes)
    this.#sfu = bucket(limits.sfu)
  }

  /** Throws RATE_LIMITED when a request of this type, `frameBytes` long, is over its device's budget. */
  admit(type: ClientMessageType, frameBytes: number, now = performance.now()): void {
    if (type === 'history' && !this.#history.take(now)) throw limited('history requests')
    if (type === 'push' && !this.#push.take(now)) throw limited('push subscriptions')
    if (type === 'sfu' && !this.#sfu.take(now)) throw limited('sfu messages')
    if (type === 'signal') {
      if (!this.#signal.take(now)) throw limited('signal messages')
      if (!this.#signalBytes.take(now, frameBytes)) throw limited('signal bytes')
    }
  }
}

function limited(what: string): RingKitError {
  return new RingKitError('RATE_LIMITED', `too many ${what} from this device`)
}
