import type { Migration } from './index.ts'

/**
 * The tables of the SQLite store, in PostgreSQL. Times are epoch milliseconds (bigint). Call ids
 * compare bytewise (COLLATE "C"), as in SQLite, so that the record cursor pages the same way on
 * both. Journal states and records are `json`: kept as written, key order and all.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  up: (s) => `
CREATE TABLE ${s}.settings (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE ${s}.apps (
  app_key text PRIMARY KEY, app_secret text NOT NULL, name text NOT NULL,
  multi_device boolean NOT NULL, created_at bigint NOT NULL);
CREATE TABLE ${s}.accounts (
  app_key text NOT NULL, accid text NOT NULL, name text NOT NULL, avatar text NOT NULL,
  created_at bigint NOT NULL, updated_at bigint NOT NULL, tokens_valid_after bigint NOT NULL,
  PRIMARY KEY (app_key, accid));
CREATE TABLE ${s}.call_journal (call_id text COLLATE "C" PRIMARY KEY, state json NOT NULL);
CREATE TABLE ${s}.call_records (
  call_id text COLLATE "C" PRIMARY KEY, app_key text NOT NULL, ended_at bigint NOT NULL, record json NOT NULL);
CREATE TABLE ${s}.call_parties (
  app_key text NOT NULL, accid text NOT NULL, ended_at bigint NOT NULL, call_id text COLLATE "C" NOT NULL,
  PRIMARY KEY (app_key, accid, ended_at, call_id));
`,
}
