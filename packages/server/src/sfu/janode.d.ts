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

  export interface JanodeHandle extends EventEmitter {
    detach(): Promise<void>
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
    }
  }
  export default Janode
}

declare module 'janode/plugins/videoroom' {
  import type { JanodeHandle, JanodePlugin } from 'janode'

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

  export interface VideoRoomHandle extends JanodeHandle {
    create(params: VideoRoomCreateParams): Promise<{ room: number; permanent: boolean }>
    exists(params: { room: number }): Promise<{ room: number; exists: boolean }>
    list(params?: { admin_key?: string }): Promise<{ list: Array<{ room: number; description: string }> }>
    destroy(params: { room: number; secret?: string; permanent?: boolean }): Promise<{ room: number }>
  }

  const VideoRoomPlugin: JanodePlugin<VideoRoomHandle>
  export default VideoRoomPlugin
}
