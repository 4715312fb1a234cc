import { RingKitError } from '@ringkit/protocol'
import type { Limits } from '../limits.ts'
import type { Cooldowns } from './cooldowns.ts'
import type { RateLimiter } from './rate-limiter.ts'

export interface AccountGuardsOptions {
  limits: Limits
  rates: RateLimiter
  cooldowns: Cooldowns
}

/**
 * What an account may make others' devices do, counted per account wherever its sockets are: how
 * fast it rings people, and whether someone who just declined it may be rung again.
 */
export class AccountGuards {
  readonly #o: AccountGuardsOptions

  constructor(options: AccountGuardsOptions) {
    this.#o = options
  }

  /** Before a call or an invitation from `by` rings anyone in `to`; rejects when it may not. */
  async beforeRinging(appKey: string, by: string, to: readonly string[]): Promise<void> {
    const { rates, cooldowns, limits } = this.#o
    if (!(await rates.take(`invites:${appKey}:${by}`, limits.invites))) {
      throw new RingKitError('RATE_LIMITED', 'too many calls and invitations from this account')
    }
    for (const callee of new Set(to)) {
      if (await cooldowns.active(declinedKey(appKey, by, callee))) {
        throw new RingKitError('DECLINED_RECENTLY', `"${callee}" declined a call from this account moments ago`)
      }
    }
    // Ringing back someone who declined me lifts what I declined of theirs: they may answer it.
    for (const callee of new Set(to)) await cooldowns.clear(declinedKey(appKey, callee, by))
  }

  /**
   * `callee` declined a call `caller` placed. In a group call this is the call's caller: the call
   * does not keep who invited whom, so a re-invite by another member is bounded only by that
   * member's invite rate — enough, since members of one call rarely take turns ringing a decliner.
   */
  async declined(appKey: string, caller: string, callee: string): Promise<void> {
    if (caller === callee) return
    try {
      await this.#o.cooldowns.start(declinedKey(appKey, caller, callee), this.#o.limits.declineCooldownMs)
    } catch (error) {
      // The decline itself went through: with the shared state out of reach it only goes without
      // its cooldown, rather than reported to the callee as failed.
      if (!(error instanceof RingKitError && error.code === 'CLUSTER_UNAVAILABLE')) throw error
    }
  }
}

const declinedKey = (appKey: string, caller: string, callee: string) => `declined:${appKey}:${caller}:${callee}`
