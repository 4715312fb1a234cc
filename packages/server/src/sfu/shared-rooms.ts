import type { VideoRoomHandle } from 'janode/plugins/videoroom'
import VideoRoomPlugin from 'janode/plugins/videoroom'
import type { JanusPool } from './JanusPool.ts'
import type { SfuRoom, SfuRoomRegistry } from './types.ts'

/** A publisher in a room, as Janus announces it: its display is the member's accid. */
export type Publisher = { feed: number; display?: string }

/**
 * Cluster: the call's room from the registry, else one made here on the Janus the cluster loads
 * least. Of two nodes making one at once, the first kept wins and the other destroys its own.
 */
export async function sharedRoom(pool: JanusPool, rooms: SfuRoomRegistry, callId: string): Promise<SfuRoom> {
  const known = await rooms.get(callId)
  if (known) {
    await rooms.hold(callId, known)
    return pool.hold(known)
  }
  const made = await pool.createRoom(await rooms.loads(pool.urls))
  let kept: SfuRoom
  try {
    kept = await rooms.put(callId, made)
  } catch (error) {
    await destroyQuietly(pool, made)
    throw error
  }
  if (kept.janusUrl === made.janusUrl && kept.room === made.room) return made
  await destroyQuietly(pool, made)
  return pool.hold(kept)
}

/** Destroys a room, this pool's or another node's; never throws. */
export async function destroyQuietly(pool: JanusPool, room: SfuRoom): Promise<void> {
  try {
    await pool.destroyRoom(pool.hold(room).room)
  } catch {
    // The room's Janus is gone or not listed here: the room went, or goes, with it.
  }
}

/**
 * Cluster: a publisher's handle hears of every other publisher in the room, on this node or not,
 * and of the room's end when another node destroyed it. Listening starts before the handle joins:
 * Janus tells it of publishers from the moment it is in the room, which can come ahead of the join's
 * answer (a publisher going live meanwhile), and would be lost. What comes before `joined()` waits,
 * and follows the publishers the join found, since Janus listed those first.
 */
export function watchPublishers(
  handle: VideoRoomHandle,
  on: { announced(list: Publisher[]): void; gone(feed: number): void; destroyed(): void },
): { joined(publishers: Publisher[]): void } {
  const { EVENT } = VideoRoomPlugin
  let held: Array<() => void> | undefined = []
  const heard = (event: () => void) => (held ? held.push(event) : event())
  const gone = ({ feed }: { feed?: number }) => feed !== undefined && heard(() => on.gone(feed))
  handle.on(EVENT.VIDEOROOM_PUB_LIST, (data: { publishers?: Publisher[] }) =>
    heard(() => on.announced(data.publishers ?? [])),
  )
  handle.on(EVENT.VIDEOROOM_UNPUBLISHED, gone)
  handle.on(EVENT.VIDEOROOM_LEAVING, gone)
  handle.once(EVENT.VIDEOROOM_DESTROYED, () => on.destroyed())
  return {
    joined(publishers) {
      const before = held ?? []
      held = undefined
      on.announced(publishers)
      for (const event of before) event()
    },
  }
}
