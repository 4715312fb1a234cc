/** A calm color per accid, so a person always gets the same one. */
export function colorFor(accid: string): string {
  let hash = 0
  for (const char of accid) hash = (hash * 31 + char.charCodeAt(0)) | 0
  return `hsl(${Math.abs(hash) % 360} 55% 48%)`
}

/** One or two letters for an avatar without a picture: nothing while the name is still unknown. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/)
  const first = [...(words[0] ?? '')][0] ?? ''
  const second = words.length > 1 ? ([...(words[words.length - 1] ?? '')][0] ?? '') : ''
  return (first + second).toUpperCase()
}
