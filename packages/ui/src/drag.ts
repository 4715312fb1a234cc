const enabled = new WeakSet<HTMLElement>()

/**
 * Lets the user drag `element` (pointer: mouse, touch or pen) within the viewport. A press that
 * barely moves is a tap and calls `onTap` instead, so a draggable window can still be clicked.
 */
export function makeDraggable(element: HTMLElement, onTap?: () => void): void {
  if (enabled.has(element)) return
  enabled.add(element)
  let start: { x: number; y: number; dx: number; dy: number; moved: boolean } | undefined
  let offset = { x: 0, y: 0 }
  element.addEventListener('pointerdown', (event) => {
    start = { x: event.clientX, y: event.clientY, dx: offset.x, dy: offset.y, moved: false }
    element.setPointerCapture(event.pointerId)
  })
  element.addEventListener('pointermove', (event) => {
    if (!start) return
    const x = event.clientX - start.x
    const y = event.clientY - start.y
    if (!start.moved && Math.hypot(x, y) < 6) return
    start.moved = true
    offset = clampToViewport(element, { x: start.dx + x, y: start.dy + y }, offset)
    element.style.translate = `${offset.x}px ${offset.y}px`
  })
  const end = () => {
    if (start && !start.moved) onTap?.()
    start = undefined
  }
  element.addEventListener('pointerup', end)
  element.addEventListener('pointercancel', () => (start = undefined))
}

// Keeps the whole element on screen: the new offset is cut back by how far it would stick out.
function clampToViewport(
  element: HTMLElement,
  wanted: { x: number; y: number },
  current: { x: number; y: number },
): { x: number; y: number } {
  const rect = element.getBoundingClientRect()
  const left = rect.left + (wanted.x - current.x)
  const top = rect.top + (wanted.y - current.y)
  const maxLeft = window.innerWidth - rect.width
  const maxTop = window.innerHeight - rect.height
  return {
    x: wanted.x + (Math.min(Math.max(left, 0), Math.max(maxLeft, 0)) - left),
    y: wanted.y + (Math.min(Math.max(top, 0), Math.max(maxTop, 0)) - top),
  }
}
