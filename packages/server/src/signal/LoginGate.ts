/** One login between reading its account and registering its session. */
export interface LoginTicket {
  readonly key: string
  /** Set when the account's tokens were revoked while this login was in flight. */
  revoked: boolean
}

/**
 * Closes the gap between a login reading the account and registering its session. A revoke writes
 * the store first and then kicks; a login takes a ticket first and only then reads the store. So
 * either the login's read sees the revocation, or the kick finds the login: its ticket while it is
 * in flight, its session once registered. Leaving the gate and registering happen in one turn of
 * the event loop. The same holds with many nodes as long as every node hears the kick.
 */
export class LoginGate {
  readonly #inFlight = new Map<string, Set<LoginTicket>>()

  /** Before the login reads the account. */
  enter(appKey: string, accid: string): LoginTicket {
    const ticket: LoginTicket = { key: key(appKey, accid), revoked: false }
    let tickets = this.#inFlight.get(ticket.key)
    if (!tickets) this.#inFlight.set(ticket.key, (tickets = new Set()))
    tickets.add(ticket)
    return ticket
  }

  /** Once the login registered its session, or failed. */
  leave(ticket: LoginTicket): void {
    const tickets = this.#inFlight.get(ticket.key)
    tickets?.delete(ticket)
    if (tickets?.size === 0) this.#inFlight.delete(ticket.key)
  }

  /** The account's tokens were revoked: every login of it in flight fails. */
  revoke(appKey: string, accid: string): void {
    for (const ticket of this.#inFlight.get(key(appKey, accid)) ?? []) ticket.revoked = true
  }
}

const key = (appKey: string, accid: string) => `${appKey}\u0000${accid}`
