// janode ships no type declarations. These describe only the parts RingKit calls, as janode 1.8
// implements them, so a janode upgrade that changes them shows up as a type error here.

declare module 'janode' {
  import type { EventEmitter } from 'node:events'

  export interface JanodeAddress {
    url: string
    apisecret?: string
  }

  export interface JanodeConfig {
    address: JanodeAddress | JanodeAddress[]
    /** Seconds between attempts; janode waits this long even for a refused connection. */
    retry_time_secs?: number
    /** Attempts after the first; janode's default of 5 × 10 s would hang a caller for a minute. */
    max_retries?: number
    ws_options?: { handshakeTimeout?: number }
  }

  /** A plugin module's default export, as `session.attach()` takes it. */
  export interface JanodePlugin<THandle> {
    id: string
    Handle: new (...args: never[]) => THandle
  }

  /** A session description as Janus sends and takes it. */
  export interface JanodeJsep {
    type: 'offer' | 'answer'
    sdp: string
  }

  /** A trickled ICE candidate; `{ completed: true }` ends them. */
  export type JanodeCandidate =
    { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | { completed: true }

  export interface JanodeHandle extends EventEmitter {
    /** Resolves even when Janus refuses (janode logs and swallows that); rejects if already detaching or detached. */
    detach(): Promise<void>
    /** `null` sends "trickle complete". */
    trickle(candidate: JanodeCandidate | null): Promise<unknown>
  }

  export interface JanodeSession extends EventEmitter {
    attach<THandle extends JanodeHandle>(plugin: JanodePlugin<THandle>): Promise<THandle>
    destroy(): Promise<void>
  }

  export interface JanodeConnection extends EventEmitter {
    /** Opens a Janus session kept alive every `keepaliveSeconds`. */
    create(keepaliveSeconds?: number): Promise<JanodeSession>
    close(): Promise<void>
  }

  const Janode: {
    connect(config: JanodeConfig): Promise<JanodeConnection>
    Logger: { setLevel(level: 'debug' | 'verb' | 'info' | 'warn' | 'error' | 'none'): string }
    EVENT: {
      /** Closed by `close()`. */
      CONNECTION_CLOSED: 'connection_closed'
      /** Closed by anything else: Janus exited, the network dropped, a ping went unanswered. */
      CONNECTION_ERROR: 'connection_error'
      SESSION_DESTROYED: 'session_destroyed'
      /** The handle is gone: detached by request, or with its session or connection. */
      HANDLE_DETACHED: 'handle_detached'
      /** The handle's PeerConnection is up: ICE and DTLS done. */
      HANDLE_WEBRTCUP: 'handle_webrtcup'
      /** The handle's PeerConnection went down (ICE failed, DTLS alert, hangup). */
      HANDLE_HANGUP: 'handle_hangup'
    }
  }
  export default Janode
}

declare module 'janode/plugins/videoroom' {
  import type { JanodeHandle, JanodeJsep, JanodePlugin } from 'janode'

  export interface VideoRoomCreateParams {
    room: number
    description?: string
    max_publishers?: number
    permanent?: boolean
    is_private?: boolean
    secret?: string
    pin?: string
    bitrate?: number
    audiocodec?: string
    videocodec?: string
    notify_joining?: boolean
  }

  /** One m-line of a multistream subscription (Janus ≥ 1.0); `feed_id` is unset once its publisher left. */
  export interface VideoRoomSubscriberStream {
    type: 'audio' | 'video' | 'data'
    mid: string
    mindex: number
    active: boolean
    feed_id?: number
    feed_mid?: string
  }

  export interface VideoRoomHandle extends JanodeHandle {
    joinPublisher(params: {
      room: number
      pin?: string
      display?: string
    }): Promise<{ room: number; feed: number; publishers: Array<{ feed: number; display?: string }> }>
    /** Publishers: a `jsep` offer starts or renegotiates publishing. Subscribers: `update` makes Janus offer again. */
    configure(params: {
      jsep?: JanodeJsep
      update?: boolean
      restart?: boolean
    }): Promise<{ room: number; configured: 'ok'; jsep?: JanodeJsep }>
    /** Janus ≥ 1.0 multistream: one handle receives all `streams`; `autoupdate: false` leaves every new offer to us. */
    joinSubscriber(params: {
      room: number
      pin?: string
      streams: Array<{ feed: number; mid?: string }>
      autoupdate?: boolean
    }): Promise<{ room: number; streams: VideoRoomSubscriberStream[]; jsep?: JanodeJsep }>
    /** Subscribers: the answer to Janus's latest offer. */
    start(params: { jsep: JanodeJsep }): Promise<{ room: number; started: 'ok' }>
    /** Subscribers: changes the subscription; the offer comes back when anything changed. */
    update(params: {
      subscribe?: Array<{ feed: number; mid?: string }>
      unsubscribe?: Array<{ feed?: number; mid?: string; sub_mid?: string }>
    }): Promise<{ room: number; streams?: VideoRoomSubscriberStream[]; jsep?: JanodeJsep }>
    create(params: VideoRoomCreateParams): Promise<{ room: number; permanent: boolean }>
    exists(params: { room: number }): Promise<{ room: number; exists: boolean }>
    list(params?: { admin_key?: string }): Promise<{ list: Array<{ room: number; description: string }> }>
    destroy(params: { room: number; secret?: string; permanent?: boolean }): Promise<{ room: number }>
  }

  /** Events a VideoRoom handle emits about the room it is in (publishers see the others come and go). */
  export interface VideoRoomEvents {
    /** Publishers now sending media, other than the handle's own. */
    VIDEOROOM_PUB_LIST: 'videoroom_publisher_list'
    VIDEOROOM_UNPUBLISHED: 'videoroom_unpublished'
    VIDEOROOM_LEAVING: 'videoroom_leaving'
    /** The room was destroyed (by whichever server holds its secret). */
    VIDEOROOM_DESTROYED: 'videoroom_destroyed'
  }

  const VideoRoomPlugin: JanodePlugin<VideoRoomHandle> & { EVENT: VideoRoomEvents }
  export default VideoRoomPlugin
}
