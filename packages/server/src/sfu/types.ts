/** A VideoRoom room made for one group call, and what its participants need to join it. */
export interface SfuRoom {
  /** The Janus that hosts the room, as given in `JanusPoolOptions.urls`. */
  janusUrl: string
  /** Janus's numeric room id. */
  room: number
  /** Needed to edit or destroy the room; stays on the server. */
  secret: string
  /** Needed to join the room; stays on the server too, since devices reach the room through RingKit's relay. */
  pin: string
}

export interface JanusPoolOptions {
  /** Janus WebSocket API URLs, e.g. `ws://127.0.0.1:8188`; rooms are spread across them. */
  urls: string[]
  /** The `api_secret` in every Janus's janus.jcfg. */
  apiSecret: string
  /** How long one Janus may take to connect and answer a request before it counts as down. */
  requestTimeoutMs?: number
  /** After a failure, a Janus is tried only after the others for this long, so callers do not wait on it. */
  retryDownMs?: number
  /**
   * Called once a Janus connection is lost, with the rooms it hosted: their calls have no media
   * path any more. A listener that throws is ignored.
   */
  onRoomsLost?: (rooms: SfuRoom[]) => void
}

/**
 * Which room each group call has, shared by the nodes of a cluster (Redis), so that members on
 * different nodes meet in one room, and how many rooms each Janus carries, so that a new room goes
 * to the least loaded one whichever node makes it. One node alone needs none of it.
 */
export interface SfuRoomRegistry {
  /** The call's room, if a node made it and the call has not ended. */
  get(callId: string): Promise<SfuRoom | undefined>
  /** Keeps `room` as the call's unless another node's came first; resolves with the call's room. */
  put(callId: string, room: SfuRoom): Promise<SfuRoom>
  /** This node still has members in the call's room: its Janus keeps counting it for a while. */
  hold(callId: string, room: SfuRoom): Promise<void>
  /** Per Janus URL, the rooms some live node holds (a dead node's stop counting once its holds lapse). */
  loads(urls: readonly string[]): Promise<Map<string, number>>
  /** Forgets the call's room and resolves with it, for exactly one caller: the one to destroy it. */
  take(callId: string): Promise<SfuRoom | undefined>
}
