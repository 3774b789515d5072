// Client-side shaping of the server's inlay hints: cut long labels at cwm.hintWidth, keeping the
// full text in the tooltip.

export function cutLabel(label: string, width: number): string {
  const chars = [...label];
  if (chars.length <= width) {
    return label;
  }
  return chars.slice(0, Math.max(1, width - 1)).join('') + '…';
}
