// ZFS replication over ssh: Backstop vs syncoid, 50 datasets, incremental, same pools, same sshd, alternating rounds.
// Needs root, zfs-fuse, syncoid (Debian's sanoid package), openssh-server/client, pv.
//   node --import tsx bench/zfs-ssh-replication.ts [--datasets 50] [--rounds 5] [--no-write]
// Writes its section of docs/benchmarks.md (unless --no-write).
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { NodeExec } from '../agent/src/exec/node-exec.ts'
import type { JobContext } from '../agent/src/jobs/job.ts'
import type { Log } from '../agent/src/log.ts'
import { resolveZfsJob } from '../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../agent/src/jobs/zfs/zfs-job.ts'
import { machineLine, writeBenchSection } from './support/report.ts'
import { must, noopLog } from './snapshots/sh.ts'

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
  },
})
const N = Number(values.datasets)
const ROUNDS = Number(values.rounds)
const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`)
const sec = (ms: number): string => (ms / 1000).toFixed(2)
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

function createPool(dir: string, pool: string, gib: number): void {
  const file = join(dir, `${pool}.img`)
  writeFileSync(file, '')
  truncateSync(file, gib * 1024 ** 3)
  must(['zpool', 'create', '-f', '-m', join(dir, `mnt-${pool}`), pool, file])
}

/** zfs-fuse reports a pool busy for a moment after its last send: retry with a pause (a pool was left once). */
function destroyPool(pool: string): void {
  for (let i = 0; i < 20 && spawnSync('zpool', ['destroy', '-f', pool]).status !== 0; i++) {
    if (spawnSync('zpool', ['list', pool]).status !== 0) {
      break
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500)
  }
}

/**
 * zfs-fuse has no `zfs get -t`, and syncoid's own fallback for it breaks on a remote host (it prefixes the ssh
 * command twice). This shim answers syncoid's listing `zfs get -Hpd 1 -t snapshot|bookmark guid,creation <fs>`
 * from the same `zfs get` without `-t`, keeping snapshot lines (zfs-fuse has no bookmarks); everything else goes
 * to the real zfs untouched. It sits first on PATH for syncoid and for every ssh login (both tools pass through it).
 */
const SHIM = `#!/bin/bash
if [ "$1" = get ] && [ "$2" = -Hpd ] && [ "$3" = 1 ] && [ "$4" = -t ]; then
  type=$5; shift 5
  [ "$type" = bookmark ] && exit 0
  /usr/sbin/zfs get -Hpd 1 "$@" | awk -F'\\t' 'index($1, "@") > 0'
  exit \${PIPESTATUS[0]}
fi
exec /usr/sbin/zfs "$@"
`

/** sshd on a free loopback port: one plain key (syncoid's) and one behind the agent's gate (Backstop's). */
async function startSshd(
  dir: string,
  gate: string | null,
  path: string,
): Promise<{ port: number; stop: () => void; kh: string }> {
  for (const k of ['host', 'syncoid', 'backstop']) {
    must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)])
  }
  const pub = (k: string): string => readFileSync(join(dir, `${k}.pub`), 'utf8').trim()
  const gated = gate === null ? '' : `command="${gate}",restrict `
  writeFileSync(join(dir, 'authorized_keys'), `${pub('syncoid')}\n${gated}${pub('backstop')}\n`, { mode: 0o600 })
  const port = await freePort()
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    `PidFile ${join(dir, 'sshd.pid')}`,
    'StrictModes no',
    'UsePAM no',
    'MaxStartups 100',
    `SetEnv PATH=${path}`,
  ]
  writeFileSync(join(dir, 'sshd_config'), `${config.join('\n')}\n`)
  mkdirSync('/run/sshd', { recursive: true })
  const child = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], {
    stdio: 'ignore',
  })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)))
      s.on('error', () => r(false))
    })
    if (up) {
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const [type, body] = pub('host').split(/\s+/)
  const kh = join(dir, 'known_hosts')
  writeFileSync(kh, `[127.0.0.1]:${port} ${type} ${body}\n`)
  return { port, kh, stop: () => child.kill('SIGTERM') }
}

function writeRound(mnt: string, round: number): void {
  for (let i = 0; i < N; i++) {
    writeFileSync(join(mnt, `d${i}`, `round-${round}.bin`), randomBytes(16 * 1024))
  }
}

/**
 * The gate as deployed: the single agent binary (agent/scripts/build-sea.mjs), built into the bench's directory
 * before anything is timed. The tsx development launcher would compile TypeScript on every ssh command.
 */
function buildGate(dir: string): string | null {
  const out = join(dir, 'sea')
  const script = fileURLToPath(new URL('../agent/scripts/build-sea.mjs', import.meta.url))
  const built = spawnSync(process.execPath, [script, '--out', out], { encoding: 'utf8' })
  const bin = join(out, 'backstop-agent')
  if (built.status !== 0 || !spawnSync(bin, ['help'], { encoding: 'utf8' }).stdout.includes('remote-gate')) {
    log(`could not build the agent binary with remote-gate: ${built.stderr.trim().split('\n').pop() ?? ''}`)
    return null
  }
  return bin
}

async function main(): Promise<void> {
  const up = spawnSync('bash', [fileURLToPath(new URL('../scripts/zfs-fuse-up.sh', import.meta.url))])
  if (up.status !== 0) {
    throw new Error('zfs-fuse is not up (scripts/zfs-fuse-up.sh)')
  }
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-zfs-ssh-'))
  const tag = randomBytes(3).toString('hex')
  const src = `bs${tag}a`
  const dst = `bs${tag}b`
  const shimDir = join(dir, 'shim')
  mkdirSync(shimDir)
  writeFileSync(join(shimDir, 'zfs'), SHIM, { mode: 0o755 })
  const path = `${shimDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`
  const gateBin = buildGate(dir)
  const gateAvailable = gateBin !== null
  const sshd = await startSshd(dir, gateAvailable ? `${gateBin} remote-gate --zfs-receive ${dst}/bs` : null, path)
  try {
    createPool(dir, src, 1)
    createPool(dir, dst, 2)
    // One tree per tool in the same pool: each tool's -I would otherwise carry the other's snapshots too.
    for (const tree of ['bs', 'sy']) {
      must(['zfs', 'create', `${src}/${tree}`])
      for (let i = 0; i < N; i++) {
        must(['zfs', 'create', `${src}/${tree}/d${i}`])
      }
    }
    must(['zfs', 'create', '-o', 'mountpoint=none', `${dst}/sy`])
    const mnts = ['bs', 'sy'].map((tree) => join(dir, `mnt-${src}`, tree))
    mnts.forEach((m) => writeRound(m, 0))
    let clock = new Date('2026-12-01T00:00:00Z').getTime()
    const job = (): ZfsSnapshotJob =>
      new ZfsSnapshotJob(
        resolveZfsJob(
          {
            kind: 'zfs',
            name: 'bench',
            media: 'nvme',
            datasets: [{ name: `${src}/bs`, recursive: true }],
            retention: { keep: { last: 2, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
            targets: [
              {
                name: 'nas',
                url: `ssh://root@127.0.0.1:${sshd.port}/${dst}/bs`,
                identity: join(dir, 'backstop'),
                knownHosts: sshd.kh,
                media: 'nas',
              },
            ],
          },
          'UTC',
        ),
      )
    const ctx = (): JobContext => ({
      node: 'bench',
      runId: `r${clock}`,
      trigger: 'manual',
      exec: new NodeExec({ log: noopLog as unknown as Log }),
      clock: { now: () => new Date(clock), sleepUntil: async () => {} },
      log: noopLog as unknown as Log,
      signal: new AbortController().signal,
      stateDir: dir,
      progress: () => {},
    })
    const runBackstop = async (): Promise<number> => {
      const t0 = performance.now()
      const r = await job().run(ctx())
      const ms = performance.now() - t0
      if (r.status !== 'success') {
        throw new Error(`backstop run ${r.status}: ${JSON.stringify(r.error)}`)
      }
      clock += 3_600_000
      return ms
    }
    const syncoidArgv = [
      'syncoid',
      '-r',
      '--no-privilege-elevation',
      '--compress=none',
      '--quiet',
      `--sshport=${sshd.port}`,
      `--sshkey=${join(dir, 'syncoid')}`,
      `--sshoption=UserKnownHostsFile=${sshd.kh}`,
      '--sshoption=StrictHostKeyChecking=yes',
      `${src}/sy`,
      `root@127.0.0.1:${dst}/sy/tree`,
    ]
    const runSyncoid = (): number => {
      const t0 = performance.now()
      const r = spawnSync(syncoidArgv[0]!, syncoidArgv.slice(1), {
        encoding: 'utf8',
        env: { ...process.env, PATH: path },
      })
      if (r.status !== 0) {
        throw new Error(`syncoid exited ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
      }
      return performance.now() - t0
    }
    log(`initial full sends (not timed): ${N} datasets; gate ${gateAvailable ? 'on' : 'NOT AVAILABLE'}`)
    await runBackstop()
    runSyncoid()
    const bs: number[] = []
    const sy: number[] = []
    const loads: string[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      mnts.forEach((m) => writeRound(m, round))
      // syncoid names its snapshots to the second: make sure two rounds never share one.
      await new Promise((r) => setTimeout(r, 1100))
      loads.push(load())
      const order = round % 2 ? ['backstop', 'syncoid'] : ['syncoid', 'backstop']
      for (const tool of order) {
        if (tool === 'backstop') {
          bs.push(await runBackstop())
        } else {
          sy.push(runSyncoid())
        }
      }
      log(`round ${round}: backstop ${sec(bs.at(-1)!)} s, syncoid ${sec(sy.at(-1)!)} s, load ${loads.at(-1)}`)
    }
    const count = (root: string): number =>
      must(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', root])
        .split('\n')
        .filter((l) => l).length
    const outcome =
      `Outcome check: after ${ROUNDS + 1} runs each, Backstop's target holds ${count(`${dst}/bs`)} snapshots ` +
      `(${N + 1} datasets × ${ROUNDS + 1} runs: the sender never prunes the receiver) and syncoid's ` +
      `${count(`${dst}/sy`)} (it destroys its previous sync snapshot on both sides each run).`
    const ratio = median(bs) / median(sy)
    const md = [
      '## ZFS replication over ssh: Backstop vs syncoid',
      '',
      `Run ${new Date().toISOString().slice(0, 16)}Z on ${machineLine()}.`,
      'Command: `node --import tsx bench/zfs-ssh-replication.ts` (as root).',
      '',
      '| workload | peer | peer median (min–max) | Backstop median (min–max) | Backstop / peer |',
      '|---|---|---|---|---|',
      `| zfs-fuse 0.7, ${N} datasets (+ parent), 16 KiB new per dataset per round, incremental over ssh to a ` +
        `second pool, ${ROUNDS} alternating rounds | syncoid 2.1 \`-r --compress=none\` | ` +
        `${sec(median(sy))} s (${sec(Math.min(...sy))}–${sec(Math.max(...sy))}) | ` +
        `${sec(median(bs))} s (${sec(Math.min(...bs))}–${sec(Math.max(...bs))}) | **${ratio.toFixed(2)}×** |`,
      '',
      `Load average (1/5/15 min) before each round: ${loads.join('; ')}.`,
      '',
      outcome,
      '',
      '**What is measured.** Wall time of one complete run of each tool per round: take a snapshot of every',
      'dataset, send what the target is missing over ssh (incremental), move holds (Backstop) or destroy the',
      'previous sync snapshot (syncoid), prune locally (Backstop, keep last 2). Both use the same sshd on',
      'loopback and the same two pools (different target roots); the order alternates each round.',
      gateAvailable
        ? "Backstop's key runs behind its forced-command gate (`backstop-agent remote-gate` of the single binary, " +
          "one process per ssh command), as deployed; syncoid's key is a plain root login, as syncoid is usually " +
          'deployed.'
        : "**The gate was not available in this run**: Backstop's key was a plain login like syncoid's.",
      '',
      "Each tool replicates its own tree of the source pool (the same data is written to both), so neither's",
      "`-I` carries the other's snapshots.",
      '',
      "**Caveats.** zfs-fuse has no `zfs get -t`, and syncoid's own fallback for it breaks on a remote target",
      '(it prefixes the ssh command twice), so a shim first on PATH (locally and in the ssh logins) answers',
      "syncoid's `zfs get -Hpd 1 -t snapshot` from `zfs get -Hpd 1`; every other command passes through it, so",
      "Backstop's remote commands pay its bash start too. zfs-fuse has no resume, so syncoid",
      'skips `receive -s` as Backstop does. syncoid pipes through mbuffer and pv (installed); Backstop adds pv',
      'only with a bandwidth limit. Per-command cost on zfs-fuse is high; absolute times do not carry over to',
      'kernel OpenZFS.',
    ].join('\n')
    console.log(`\n${md}\n`)
    if (!values['no-write']) {
      writeBenchSection('zfs-ssh', md)
    }
  } finally {
    sshd.stop()
    destroyPool(src)
    destroyPool(dst)
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
