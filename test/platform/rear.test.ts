import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pino } from 'pino'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { resolveRearJob } from '../../agent/src/jobs/rear/config.ts'
import { loadInventory } from '../../agent/src/jobs/rear/inventory.ts'
import { createRearJob } from '../../agent/src/jobs/rear/rear-job.ts'
import { requirePlatform } from '../support/platform.ts'

/**
 * Real Relax-and-Recover: `rear format` + `rear mkbackup` onto a loop device standing in for the USB stick,
 * driven through the agent's rear job. The workarounds of env-feasibility.md §6 live only in this test's
 * config (no udev by-label links → the job finds the stick by blkid; a dummy KERNEL_FILE and no modules because
 * the CI VM has no /boot kernel; BOOTLOADER=GRUB2 because the boot disk cannot be probed). The stick gets a
 * unique label so a real REAR-000 stick on the machine is never touched.
 * Not covered here: booting the rescue image or `rear recover` — there is no real kernel and no VM to boot it in.
 * Slow (rear mkbackup builds a ~36 MB initrd): one run per CI.
 */
const sh = (argv: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const rearDirs = ['/var/lib/rear', '/var/log/rear']

test('rear format + mkbackup to a loop "USB stick" through the rear job', { timeout: 15 * 60_000 }, async (t) => {
  if (
    !requirePlatform(t, {
      root: true,
      commands: ['rear', 'losetup', 'partx', 'blkid', 'mount', 'umount', 'udevadm', 'cpio', 'extlinux', 'parted'],
      checks: [() => (existsSync('/dev/loop-control') ? null : 'no /dev/loop-control (loop devices unavailable)')],
    })
  ) {
    return
  }
  const scratch = mkdtempSync(join(tmpdir(), 'bk-rear-platform-'))
  // Remove only what rear adds: the package owns the directories, and other entries are not ours.
  const before = new Map(rearDirs.map((d) => [d, new Set(existsSync(d) ? readdirSync(d) : [])]))
  const tmpBefore = new Set(readdirSync('/var/tmp').filter((n) => n.startsWith('rear.')))
  let loop: string | null = null
  const state = join(scratch, 'state')
  t.after(() => {
    sh(['umount', join(state, 'mnt')])
    sh(['umount', join(scratch, 'check')])
    if (loop !== null) {
      sh(['losetup', '-d', loop])
    }
    for (const d of rearDirs) {
      for (const n of existsSync(d) ? readdirSync(d) : []) {
        if (!before.get(d)!.has(n)) {
          rmSync(join(d, n), { recursive: true, force: true })
        }
      }
    }
    for (const n of readdirSync('/var/tmp').filter((x) => x.startsWith('rear.') && !tmpBefore.has(x))) {
      rmSync(join('/var/tmp', n), { recursive: true, force: true })
    }
    rmSync(scratch, { recursive: true, force: true })
  })

  const img = join(scratch, 'usb.img')
  writeFileSync(img, '')
  assert.equal(sh(['truncate', '-s', '2G', img]).status, 0)
  const l = sh(['losetup', '-f', '--show', '-P', img])
  assert.equal(l.status, 0, l.stderr)
  loop = l.stdout.trim()
  const label = `BKT-${randomBytes(3).toString('hex')}`

  // rear format with its own config dir (a copy of /etc/rear plus the label).
  const formatEtc = join(scratch, 'format-etc')
  cpSync('/etc/rear', formatEtc, { recursive: true })
  writeFileSync(join(formatEtc, 'local.conf'), `USB_DEVICE_FILESYSTEM_LABEL=${label}\n`)
  const f = sh(['rear', '-c', formatEtc, 'format', '--', '-y', loop])
  assert.equal(f.status, 0, `rear format: ${f.stdout}\n${f.stderr}`)
  sh(['partx', '-u', loop])

  const kernel = join(scratch, 'vmlinuz-dummy')
  writeFileSync(kernel, Buffer.alloc(1024 * 1024))
  mkdirSync(state)
  const job = createRearJob(
    resolveRearJob(
      {
        kind: 'rear',
        name: 'rescue-usb',
        label,
        retention: { keep: { last: 2 } },
        timeoutSeconds: 900,
        nodeTimezone: 'UTC',
        extraConfig: [
          `USB_DEVICE_FILESYSTEM_LABEL=${label}`,
          `BACKUP_PROG_EXCLUDE=("\${BACKUP_PROG_EXCLUDE[@]}" '/tmp/*' '/mnt/*' '/root/*' '/usr/*' ` +
            `'/var/*' '/opt/*' '/home/*' '/work/*' '${scratch}/*')`,
          `KERNEL_FILE=${kernel}`,
          "MODULES=( 'no_modules' )",
          'BOOTLOADER=GRUB2',
        ],
      },
      'UTC',
    ),
  )
  const log = pino({ level: 'silent' })
  const progress: string[] = []
  const r = await job.run({
    node: 'ci',
    runId: 'rear-1',
    trigger: 'manual',
    exec: new NodeExec({ log }),
    clock: { now: () => new Date(), sleepUntil: async () => {} },
    log,
    signal: new AbortController().signal,
    stateDir: state,
    progress: (_p, m) => progress.push(m ?? ''),
  })
  assert.equal(r.status, 'success', `${JSON.stringify(r.error)}\n${r.warnings.join('\n')}`)
  assert.equal(r.copies.length, 1)
  const c = r.copies[0]!
  const host = hostname().split('.')[0]!
  assert.match(c.name, new RegExp(`^rear/${host}/\\d{8}\\.\\d{4}$`))
  assert.equal(c.media, 'usb')
  assert.equal(c.offline, false)
  assert.equal(c.verification.state, 'verified')
  assert.equal(c.runId, 'rear-1', 'the run directory named by the minute is paired with its run by id')
  assert.ok(progress.length > 0, 'rear -v milestones reported as progress')

  // The stick's identity is its filesystem UUID (blkid), and the checksum matches the archive on the stick.
  const part = sh(['blkid', '-c', '/dev/null', '-o', 'export', '-t', `LABEL=${label}`]).stdout
  const uuid = /^UUID=(.+)$/m.exec(part)?.[1]
  const dev = /^DEVNAME=(.+)$/m.exec(part)?.[1]
  assert.deepEqual(c.location.device, { label, fsUuid: uuid })
  const check = join(scratch, 'check')
  mkdirSync(check)
  assert.equal(sh(['mount', '-o', 'ro', dev!, check]).status, 0)
  const archive = join(check, c.name, 'backup.tar.gz')
  const bytes = readFileSync(archive)
  assert.equal(c.checksum?.value, createHash('sha256').update(bytes).digest('hex'))
  assert.equal(c.bytes, bytes.length)
  assert.equal(readFileSync(`${archive}.md5`, 'utf8').split(/\s+/)[0], createHash('md5').update(bytes).digest('hex'))
  for (const f of ['kernel', 'initrd.cgz', 'syslinux.cfg']) {
    assert.ok(existsSync(join(check, c.name, f)), `${f} on the stick`)
  }
  assert.equal(sh(['umount', check]).status, 0)

  // The inventory knows which stick holds which run.
  const inv = await loadInventory(state)
  assert.deepEqual(
    inv[uuid!]?.runs.map((x) => x.name),
    [c.name],
  )
  assert.equal(inv[uuid!]?.label, label)
})
