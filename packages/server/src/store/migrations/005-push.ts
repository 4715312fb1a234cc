import type { Migration } from './index.ts'

/** Web Push subscriptions, one per device, and when each account's last device went away. */
export const push: Migration = {
  version: 5,
  name: 'push',
  up: (s) => `
CREATE TABLE ${s}.push_subscriptions (
  app_key text NOT NULL, accid text NOT NULL, device_id text NOT NULL, endpoint text NOT NULL,
  p256dh text NOT NULL, auth text NOT NULL, lang text NOT NULL, server text NOT NULL, created_at bigint NOT NULL,
  PRIMARY KEY (app_key, accid, device_id));
CREATE INDEX push_subscriptions_endpoint ON ${s}.push_subscriptions (endpoint);
CREATE TABLE ${s}.account_offline (
  app_key text NOT NULL, accid text NOT NULL, offline_at bigint NOT NULL, PRIMARY KEY (app_key, accid));
`,
}
