import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

/**
 * A second host for one test: a network namespace joined to this one by a veth pair, with addresses from the
 * documentation range 198.51.100.0/24 (env-feasibility-wave2.md §2), one /30 per test, skipping any /30 a network
 * of this machine already covers (its own uplink may use a documentation range: 192.0.2.0/24 here). What the test
 * runs with `argv()` listens on `address`, which is not a loopback address: to the agent it is another machine, as a
 * NAS on the LAN would be. Removed in t.after, also when the test fails. Tests running at once claim different /30s
 * (an mkdir under /run is the claim; a claim whose process is gone is taken over).
 */
export interface SecondHost {
  readonly name: string
  /** The namespace's address: where its servers listen. */
  readonly address: string
  /** This side's address on the link. */
  readonly localAddress: string
  /** `cmd` run in the namespace's network (and this machine's mounts). */
  argv(cmd: readonly string[]): string[]
}

const claims = '/run/backstop-test-netns'
const subnets = 64

function ip(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.status !== 0) {
    throw new Error(`ip ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const base = [198, 51, 100]
const toInt = (a: readonly number[]): number => ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0

/** The /30s that overlap a network configured on this machine (`ip -4 -o addr`: `2: eth0    inet 192.0.2.2/24 …`). */
function takenByHost(): Set<number> {
  const out = spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout
  const taken = new Set<number>()
  for (const m of out.matchAll(/inet (\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)/g)) {
    const bits = Number(m[5])
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
    const net = (toInt([1, 2, 3, 4].map((i) => Number(m[i]))) & mask) >>> 0
    for (let index = 0; index < subnets; index++) {
      const first = toInt([...base, index * 4])
      const overlaps = bits >= 30 ? (net & 0xfffffffc) >>> 0 === first : (first & mask) >>> 0 === net
      if (overlaps) {
        taken.add(index)
      }
    }
  }
  return taken
}

function claimSubnet(): { index: number; release: () => void } {
  mkdirSync(claims, { recursive: true })
  const taken = takenByHost()
  for (let index = 0; index < subnets; index++) {
    if (taken.has(index)) {
      continue
    }
    const dir = join(claims, String(index))
    try {
      mkdirSync(dir)
    } catch {
      const owner = Number(readFileSync(join(dir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0)
      if (owner === 0 || alive(owner)) {
        continue
      }
      rmSync(dir, { recursive: true, force: true })
      try {
        mkdirSync(dir)
      } catch {
        continue
      }
    }
    writeFileSync(join(dir, 'pid'), String(process.pid))
    return { index, release: () => rmSync(dir, { recursive: true, force: true }) }
  }
  throw new Error(`no free test subnet: ${subnets} claims under ${claims} belong to live processes`)
}

export function secondHost(t: TestContext): SecondHost {
  const { index, release } = claimSubnet()
  const name = `bkns${index}p${process.pid}`
  const [outer, inner] = [`bkv${index}a`, `bkv${index}b`]
  const localAddress = `${base.join('.')}.${index * 4 + 1}`
  const address = `${base.join('.')}.${index * 4 + 2}`
  let undone = false
  const undo = (): void => {
    if (undone) {
      return
    }
    undone = true
    spawnSync('ip', ['netns', 'del', name])
    spawnSync('ip', ['link', 'del', outer])
    release()
  }
  t.after(undo)
  try {
    // A veth left by a killed run of the same claim would block the new pair.
    spawnSync('ip', ['link', 'del', outer])
    ip(['netns', 'add', name])
    ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner])
    ip(['link', 'set', inner, 'netns', name])
    ip(['addr', 'add', `${localAddress}/30`, 'dev', outer])
    ip(['link', 'set', outer, 'up'])
    ip(['netns', 'exec', name, 'ip', 'addr', 'add', `${address}/30`, 'dev', inner])
    ip(['netns', 'exec', name, 'ip', 'link', 'set', inner, 'up'])
    ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'])
  } catch (e) {
    undo()
    throw e
  }
  // nsenter joins the network namespace only: `ip netns exec` also gives the process a copy of the mount table, in
  // which the test's zfs-fuse and tmpfs mounts stay mounted, so their pools are "busy" and cannot be exported.
  return { name, address, localAddress, argv: (cmd) => ['nsenter', `--net=/run/netns/${name}`, ...cmd] }
}
