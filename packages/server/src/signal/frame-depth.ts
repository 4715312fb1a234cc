/** Whether objects and arrays nest deeper than `limit`, `value` itself being level 1. Not recursive. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [object, number][] = typeof value === 'object' && value !== null ? [[value, 1]] : []
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [node, depth] = top
    if (depth > limit) return true
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}
