import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodePromotionTags, promotionTags, resolveRetentionPolicy } from '@backstop/shared'
import { systemClock } from '../../agent/src/clock.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import type { JobContext } from '../../agent/src/jobs/job.ts'
import type { Log } from '../../agent/src/log.ts'
import { resolveBtrfsJob } from '../../agent/src/jobs/btrfs/config.ts'
import { BtrfsSnapshotJob } from '../../agent/src/jobs/btrfs/btrfs-job.ts'
import { btrfsSnapshotName } from '../../agent/src/jobs/btrfs/fs.ts'
import { attempt, floorHour, hoursBefore, must, noopLog, pad, timed, timedAsync } from './sh.ts'

/**
 * Backstop vs btrbk on one btrfs loop filesystem: `subvolumes` subvolumes, each with `history` hourly
 * read-only snapshots in each tool's own snapshot directory, then ONE snapshot+prune cycle of each tool with
 * the same policy (keep `history` hourly), so each takes one snapshot per subvolume and deletes the one
 * that fell out. No send targets: this measures the snapshot side btrbk and Backstop both do locally.
 */
export interface BtrfsBenchResult {
  readonly subvolumes: number
  readonly history: number
  readonly btrbkMs: number
  readonly backstopMs: number
  readonly btrbkAfter: number
  readonly backstopAfter: number
  readonly backstopDeleted: number
}

/** btrbk's `long` timestamp (local time; TZ=UTC for both tools). */
const btrbkStamp = (d: Date): string => d.toISOString().slice(0, 16).replace(/[-:]/g, '')

/** Runs argv lists with `parallel` at a time (history setup only; not measured). */
async function runAll(cmds: readonly string[][], parallel: number): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < cmds.length) {
      const argv = cmds[next++]!
      await new Promise<void>((resolve, reject) => {
        const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
        let err = ''
        p.stderr.on('data', (b: Buffer) => {
          err += b.toString()
        })
        p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: ${err}`))))
      })
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
}

export async function runBtrfsBench(
  subvolumes: number,
  history: number,
  log: (s: string) => void,
): Promise<BtrfsBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-btrfs-'))
  const img = join(dir, 'fs.img')
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  writeFileSync(img, '')
  truncateSync(img, 2 * 1024 ** 3)
  const dev = must(['losetup', '-f', '--show', img]).trim()
  try {
    must(['mkfs.btrfs', '-q', '-f', dev])
    must(['mount', dev, mnt])
    const names = Array.from({ length: subvolumes }, (_, i) => `s${pad(i + 1)}`)
    for (const n of names) {
      must(['btrfs', 'subvolume', 'create', join(mnt, n)])
      writeFileSync(join(mnt, n, 'file'), n)
    }
    mkdirSync(join(mnt, '.btrbk'))
    mkdirSync(join(mnt, '.backstop'))
    const now = new Date()
    const policyInput = { keep: { last: 1, hourly: history, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
    const policy = resolveRetentionPolicy(policyInput, 'UTC')
    const cmds: string[][] = []
    let prev: Date | null = null
    for (let k = history; k >= 1; k--) {
      const at = hoursBefore(floorHour(now), k)
      const tags = encodePromotionTags(promotionTags(at, policy, prev))
      for (const n of names) {
        cmds.push(['btrfs', 'subvolume', 'snapshot', '-r', join(mnt, n), join(mnt, '.btrbk', `${n}.${btrbkStamp(at)}`)])
        cmds.push([
          'btrfs',
          'subvolume',
          'snapshot',
          '-r',
          join(mnt, n),
          join(mnt, '.backstop', btrfsSnapshotName(n, 'backstop', at, tags)),
        ])
      }
      prev = at
    }
    log(`btrfs: building ${cmds.length} history snapshots`)
    await runAll(cmds, 4)

    const conf = join(dir, 'btrbk.conf')
    writeFileSync(
      conf,
      [
        `lockfile ${join(dir, 'btrbk.lock')}`,
        `transaction_log ${join(dir, 'transaction.log')}`,
        'timestamp_format long',
        'snapshot_create always',
        'snapshot_preserve_min latest',
        // btrbk counts the current hour as hour 0: `(N-1)h` keeps N snapshots, as `keep.hourly: N` does.
        `snapshot_preserve ${history - 1}h`,
        `volume ${mnt}`,
        '  snapshot_dir .btrbk',
        ...names.map((n) => `  subvolume ${n}`),
        '',
      ].join('\n'),
    )
    log('btrfs: btrbk run')
    const btrbk = timed(['btrbk', '-c', conf, 'run'], { ...process.env, TZ: 'UTC' })
    const btrbkAfter = readdirSync(join(mnt, '.btrbk')).length

    const job = new BtrfsSnapshotJob(
      resolveBtrfsJob(
        {
          kind: 'btrfs',
          name: 'bench',
          media: 'ssd',
          subvolumes: names.map((n) => join(mnt, n)),
          snapshotDir: join(mnt, '.backstop'),
          retention: policyInput,
        },
        'UTC',
      ),
    )
    const ctx: JobContext = {
      node: 'bench',
      runId: 'bench',
      trigger: 'manual',
      exec: new NodeExec({ log: noopLog as unknown as Log }),
      clock: systemClock,
      log: noopLog as unknown as Log,
      signal: new AbortController().signal,
      stateDir: join(dir, 'state'),
      progress: () => {},
    }
    log('btrfs: Backstop run')
    const backstop = await timedAsync(() => job.run(ctx))
    if (backstop.value.status !== 'success') {
      throw new Error(`Backstop run did not succeed: ${JSON.stringify(backstop.value.error)}`)
    }
    return {
      subvolumes,
      history,
      btrbkMs: btrbk.ms,
      backstopMs: backstop.ms,
      btrbkAfter,
      backstopAfter: readdirSync(join(mnt, '.backstop')).length,
      backstopDeleted: backstop.value.deleted.length,
    }
  } finally {
    if (attempt(['umount', mnt]) !== 0) {
      attempt(['umount', '-l', mnt])
    }
    attempt(['losetup', '-d', dev])
    rmSync(dir, { recursive: true, force: true })
  }
}
