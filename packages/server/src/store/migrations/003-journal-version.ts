import type { Migration } from './index.ts'

/**
 * The live state's version each journal row was written at, so that a write of an older state (a
 * node that paused between its state write and its journal write, or a write deferred through an
 * outage) is refused rather than taking the row back. Rows from before have none: any write wins.
 */
export const journalVersion: Migration = {
  version: 3,
  name: 'journal-version',
  up: (s) => `ALTER TABLE ${s}.call_journal ADD COLUMN version bigint;`,
}
