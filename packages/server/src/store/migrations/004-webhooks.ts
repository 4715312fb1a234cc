import type { Migration } from './index.ts'

/**
 * The webhook outbox: endpoints, the events queued for them (numbered per call), one job per event
 * and endpoint, leased by the node making its attempt, and the latest attempts of each endpoint.
 */
export const webhooks: Migration = {
  version: 4,
  name: 'webhooks',
  up: (s) => `
CREATE TABLE ${s}.webhook_endpoints (
  id text PRIMARY KEY, app_key text NOT NULL, url text NOT NULL, events text[], secret text NOT NULL,
  disabled boolean NOT NULL DEFAULT false, created_at bigint NOT NULL);
CREATE INDEX webhook_endpoints_app ON ${s}.webhook_endpoints (app_key);
CREATE TABLE ${s}.webhook_events (
  id text PRIMARY KEY, app_key text NOT NULL, call_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, type text NOT NULL,
  at bigint NOT NULL, data text NOT NULL, UNIQUE (call_id, seq));
CREATE INDEX webhook_events_at ON ${s}.webhook_events (at);
CREATE TABLE ${s}.webhook_jobs (
  endpoint_id text NOT NULL, event_id text NOT NULL, call_id text COLLATE "C" NOT NULL, seq bigint NOT NULL,
  attempt integer NOT NULL DEFAULT 0, first_at bigint NOT NULL, next_at bigint NOT NULL,
  lease_until bigint NOT NULL DEFAULT 0, PRIMARY KEY (endpoint_id, event_id));
CREATE INDEX webhook_jobs_due ON ${s}.webhook_jobs (next_at);
CREATE INDEX webhook_jobs_call ON ${s}.webhook_jobs (endpoint_id, call_id, seq);
CREATE INDEX webhook_jobs_event ON ${s}.webhook_jobs (event_id);
CREATE TABLE ${s}.webhook_attempts (
  id bigserial PRIMARY KEY, endpoint_id text NOT NULL, at bigint NOT NULL, event_id text NOT NULL,
  type text NOT NULL, attempt integer NOT NULL, status integer NOT NULL, error text);
CREATE INDEX webhook_attempts_endpoint ON ${s}.webhook_attempts (endpoint_id, at);
`,
}
