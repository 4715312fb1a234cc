import type { Migration } from './index.ts'

/**
 * Which node keeps each journaled call, so that a node starting (or watching) ends or adopts only
 * the calls of nodes whose lease expired. Rows from before have no owner: no live node claims them.
 */
export const journalOwner: Migration = {
  version: 2,
  name: 'journal-owner',
  up: (s) => `ALTER TABLE ${s}.call_journal ADD COLUMN node_id text;`,
}
