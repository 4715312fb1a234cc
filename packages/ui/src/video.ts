/** A `<video>` for a call: autoplaying inline, muted when it shows my own camera. */
export function videoElement(local: boolean, part = local ? 'local-video-element' : 'remote-video'): HTMLVideoElement {
  const element = document.createElement('video')
  element.autoplay = true
  element.playsInline = true
  element.muted = local
  element.className = local ? 'local-video' : part === 'remote-video' ? 'remote' : part
  element.setAttribute('part', part)
  return element
}

/** Plays `element`'s sound on that output device, in browsers with `setSinkId`. */
export async function setSink(element: HTMLMediaElement, deviceId: string): Promise<void> {
  const withSink = element as HTMLMediaElement & { setSinkId?: (id: string) => Promise<void> }
  await withSink.setSinkId?.(deviceId)
}
