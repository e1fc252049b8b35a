import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * Resource figures of a process tree straight from /proc (proc(5)), so the numbers are the kernel's and not the
 * measured program's own opinion of itself.
 */

/** Clock ticks per second of /proc/<pid>/stat's time fields (`getconf CLK_TCK`, 100 on Linux x86). */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** The pid and every descendant (via /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!
    let tids: string[] = []
    try {
      tids = readdirSync(`/proc/${p}/task`)
    } catch {
      continue // exited between the listing and now
    }
    for (const tid of tids) {
      try {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim()
        out.push(...(kids ? kids.split(' ').map(Number) : []))
      } catch {
        // the thread ended
      }
    }
  }
  return out
}

/** stat fields after the `(comm)`, which may itself contain spaces and parentheses. */
function statFields(pid: number): string[] {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return s.slice(s.lastIndexOf(')') + 2).split(' ')
}

/** utime+stime+cutime+cstime of one process in ticks (fields 14–17; index 0 here is field 3). */
export function cpuTicks(pid: number): number {
  const f = statFields(pid)
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
}

/** CPU ticks of the whole tree: children that exited were waited for, so they are in cutime/cstime. */
export function treeCpuTicks(pid: number): number {
  let total = 0
  for (const p of processTree(pid)) {
    try {
      total += cpuTicks(p)
    } catch {
      // exited: its time moved into the parent's cutime/cstime
    }
  }
  return total
}

/** VmRSS of the tree in bytes. */
export function treeRssBytes(pid: number): number {
  let total = 0
  for (const p of processTree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      total += m ? Number(m[1]) * 1024 : 0
    } catch {
      // exited
    }
  }
  return total
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * Where the RSS of one process lives (/proc/<pid>/smaps_rollup): `anonMiB` is memory only the process holds (V8
 * heap, malloc), `fileMiB` clean pages of mapped files (for a SEA binary: node's own code, ICU data and the
 * embedded bundle), which the kernel can drop and re-read under memory pressure.
 */
export function rssSplit(pid: number): { readonly anonMiB: number; readonly fileMiB: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0)
  return { anonMiB: kb('Anonymous') / 1024, fileMiB: (kb('Rss') - kb('Anonymous')) / 1024 }
}
