import { initial } from './001-initial.ts'
import { journalOwner } from './002-journal-owner.ts'
import { journalVersion } from './003-journal-version.ts'
import { webhooks } from './004-webhooks.ts'
import { push } from './005-push.ts'

/**
 * One step of the PostgreSQL schema. Steps are applied in `version` order, each once, and never
 * change after they shipped: a change to the schema is a new step at the end of `MIGRATIONS`.
 */
export interface Migration {
  version: number
  name: string
  /** The statements, given the schema name already quoted. */
  up: (schema: string) => string
}

export const MIGRATIONS: readonly Migration[] = [initial, journalOwner, journalVersion, webhooks, push]
