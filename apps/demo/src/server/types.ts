import type { CallRecord } from '@ringkit/protocol'

export interface DemoOptions {
  /** Where `demo.sqlite` lives: the RingKit data dir. */
  dataDir: string
  /** Where the RingKit REST API answers; a function because the port is known only after listen. */
  ringkitUrl: () => string
  appKey: string
  appSecret: string
  /**
   * Sign-in attempts allowed per IP and username a minute (default 10): a guesser slows down on the
   * account it guesses at, without locking out the others who share its IP.
   */
  authAttemptsPerMinute?: number
  /** Sign-ups allowed per IP a minute (default 20), counted apart from sign-ins. */
  signupsPerMinute?: number
}

/** A user as the pages and the UI kit see them. */
export interface DemoUser {
  username: string
  displayName: string
  accid: string
  avatarColor: string
}

export interface DemoTokenResponse {
  appKey: string
  accid: string
  token: string
  /** Epoch ms. */
  expiresAt: number
  /** The RingKit server the browser connects to: the origin that served the page. */
  server: string
}

/** A call record with the display names the pages show (the accid when the party is not a demo user). */
export interface DemoHistoryRecord extends CallRecord {
  callerName: string
  calleeNames: string[]
}

export interface DemoHistoryPage {
  records: DemoHistoryRecord[]
  nextCursor?: string
}
