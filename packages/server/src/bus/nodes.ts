import { randomBytes, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { ClusterNode } from '../calls/ports.ts'
import type { Presence } from '../signal/presence.ts'
import type { RedisLink } from './redis.ts'

/** How often a node tells the cluster it is alive, and refreshes its devices' presence. */
export const NODE_HEARTBEAT_MS = 1_500
/** A node silent this long is dead: about three missed heartbeats. */
export const NODE_TTL_MS = 5_000

/** Unique per process unless given: two nodes started with one name would share their devices' slots. */
export function defaultNodeId(): string {
  return `${hostname()}-${randomBytes(4).toString('hex')}`
}

/** Whether the node's heartbeat is live. */
export async function nodeAlive(link: RedisLink, nodeId: string): Promise<boolean> {
  return (await link.run((r) => r.exists(nodeKey(nodeId)))) === 1
}

/**
 * Which run of the node beats, undefined when none does: a node started again under its name
 * beats with a run of its own, and what the run before held is gone.
 */
export async function nodeRun(link: RedisLink, nodeId: string): Promise<string | undefined> {
  return (await link.run((r) => r.get(nodeKey(nodeId)))) ?? undefined
}

export interface NodeHeartbeat {
  /** Stops beating without removing the node's key: it expires, as a dead node's does. */
  stop(): void
}

/**
 * Beats every `NODE_HEARTBEAT_MS`: `node:{id}` in Redis (when there is one), naming this run, with
 * a `NODE_TTL_MS` lifetime, then `onBeat`. The next beat tries again after a failure, which `onError` hears once
 * per outage, not every beat; a beat still running when the next is due is not doubled.
 */
export function startNodeHeartbeat(
  link: RedisLink | undefined,
  nodeId: string,
  onBeat: () => Promise<void>,
  onError: (error: unknown) => void,
): NodeHeartbeat {
  let running = false
  let failing = false
  const run = randomUUID()
  const beat = async () => {
    if (running) return
    running = true
    try {
      await link?.run((r) => r.set(nodeKey(nodeId), run, 'PX', NODE_TTL_MS))
      await onBeat()
      failing = false
    } catch (error) {
      if (!failing) onError(error)
      failing = true
    } finally {
      running = false
    }
  }
  void beat()
  const timer = setInterval(() => void beat(), NODE_HEARTBEAT_MS)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}

const nodeKey = (nodeId: string) => `node:${nodeId}`

/** This node in a cluster on Redis: leases are the heartbeats, presence says where devices are. */
export function clusterNode(link: RedisLink, nodeId: string, presence: Presence): ClusterNode {
  return {
    id: nodeId,
    alive: (other) => nodeAlive(link, other),
    async lock(name, ms) {
      return (await link.run((r) => r.set(`lock:${name}`, nodeId, 'PX', ms, 'NX'))) === 'OK'
    },
    async devices(appKey, accid) {
      return (await presence.devices(appKey, accid)).map((d) => d.deviceId)
    },
  }
}
