import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What the server keeps for devices, in bytes, read when the metrics are. */
export interface HeldBytes {
  /** Frames session outboxes keep for devices that may resume. */
  outbox: number
  /** Negotiation ringing calls keep for callee devices that log in late. */
  keptSignals: number
}

/**
 * The server's Prometheus metrics, one registry per server instance. Each adds up across nodes: a
 * call may start on one node and end on another, so calls in progress are the started total less
 * the ended total, never a gauge that one node raises and another lowers. The gauges here count
 * what lives in this node alone (its sockets, its sessions, what it holds for them).
 */
export function createMetrics(
  held: () => HeldBytes = () => ({ outbox: 0, keptSignals: 0 }),
  spooledRecords: () => number = () => 0,
) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'ringkit_process_' })
  const metrics = {
    registry,
    connections: new Gauge({ name: 'ringkit_connections', help: 'Open WebSocket connections', registers: [registry] }),
    sessions: new Gauge({
      name: 'ringkit_sessions',
      help: 'Logged-in devices, connected or within grace',
      registers: [registry],
    }),
    callsStarted: new Counter({ name: 'ringkit_calls_started_total', help: 'Calls started', registers: [registry] }),
    callsEnded: new Counter({
      name: 'ringkit_calls_ended_total',
      help: 'Calls ended, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    frames: new Counter({
      name: 'ringkit_frames_total',
      help: 'Valid signaling frames received, by type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    frameErrors: new Counter({
      name: 'ringkit_frame_errors_total',
      help: 'Signaling frames refused, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    sfuWait: new Histogram({
      name: 'ringkit_sfu_wait_seconds',
      help: 'Group-call media negotiation: one Janus request (on="janus"), or a device answering an offer (on="device")',
      labelNames: ['on'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    heldBytes: new Gauge({
      name: 'ringkit_held_bytes',
      help: 'Bytes kept for devices: session outboxes (what="outbox"), ringing calls\' negotiation (what="keptSignals")',
      labelNames: ['what'] as const,
      registers: [registry],
      collect() {
        for (const [what, bytes] of Object.entries(held())) this.set({ what }, bytes)
      },
    }),
    spooledRecords: new Gauge({
      name: 'ringkit_records_spooled',
      help: "Call records in this node's spool, kept while PostgreSQL was unreachable and not written yet",
      registers: [registry],
      collect() {
        this.set(spooledRecords())
      },
    }),
    clusterHopsLost: new Counter({
      name: 'ringkit_cluster_hops_lost_total',
      help: 'Events or kicks for devices on other nodes that could not be handed to their node (Redis out of reach)',
      registers: [registry],
    }),
    httpErrors: new Counter({
      name: 'ringkit_http_errors_total',
      help: 'REST requests refused, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  }
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>
