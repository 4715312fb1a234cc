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
