/**
 * `/proc/self/mountinfo` (proc(5)): one mount per line,
 * `id parent major:minor root mountpoint options [optional fields…] - fstype source super-options`.
 * Pure: the collector's storage probe reads the file and hands the text here (fixture: mountinfo-vm.txt).
 */
export interface MountEntry {
  readonly majMin: string
  readonly mountPoint: string
  readonly fstype: string
  readonly source: string
}

/** Mount points escape space, tab, newline and backslash as octal (`\040`). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ')
    const dash = f.indexOf('-')
    if (dash < 6 || f.length < dash + 3) {
      continue
    }
    out.push({
      majMin: f[2] as string,
      mountPoint: unescape(f[4] as string),
      fstype: f[dash + 1] as string,
      source: unescape(f[dash + 2] as string),
    })
  }
  return out
}

/**
 * The mount holding `path` (absolute, symlinks resolved): the longest mount point that is `path` or a parent of
 * it, among mounts of the filesystem `majMin` (st_dev of the path) when any match — a bind mount or an over-mount
 * then cannot name the wrong filesystem. The last such line wins (later mounts hide earlier ones).
 */
export function mountHolding(mounts: readonly MountEntry[], path: string, majMin: string): MountEntry | undefined {
  const under = (m: MountEntry): boolean =>
    m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`)
  const best = (list: readonly MountEntry[]): MountEntry | undefined => {
    let found: MountEntry | undefined
    for (const m of list) {
      if (under(m) && (found === undefined || m.mountPoint.length >= found.mountPoint.length)) {
        found = m
      }
    }
    return found
  }
  return best(mounts.filter((m) => m.majMin === majMin)) ?? best(mounts)
}

/** st_dev → `major:minor` as the kernel prints it (glibc's gnu_dev_major/minor). */
export function majMinOf(dev: number): string {
  const big = BigInt(dev)
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn))
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn))
  return `${major}:${minor}`
}
