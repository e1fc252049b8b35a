import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { FixtureExec } from '../../../src/exec/fixture-exec.ts'
import { localSide, type ZfsSide } from '../../../src/jobs/zfs/endpoint.ts'
import { listDatasets } from '../../../src/jobs/zfs/listing.ts'
import { resumeCut, sendOne, type ReplicationLink } from '../../../src/jobs/zfs/replicate.ts'
import { RunReport } from '../../../src/jobs/snapshot-common/report.ts'
import { SshExec, sshCommandArgv, sshWhere, type SshEndpoint } from '../../../src/remote/ssh.ts'
import { parseZfsUsage, receiveArgv, sendArgv } from '../../../src/tools/zfs.ts'

/**
 * Pull faults at the unit level (the platform versions are test/platform/zfs-pull-faults.test.ts): the source's gate
 * refusing a listing keeps its code, and a full pool here is not mistaken for a cut because the ssh of the send
 * exits 255 when the local receive gives up.
 */
const fx = (name: string): string => readFileSync(new URL(`../../fixtures/zfs/${name}`, import.meta.url), 'utf8')
const caps = { ...parseZfsUsage(fx('zfs-usage-openzfs-2.3.txt')), resumable: false }
const ssh: SshEndpoint = { user: 'root', host: 'pve1', port: 22, identity: '/k', knownHosts: '/kh' }

function remote(exec: FixtureExec): ZfsSide {
  return {
    exec: new SshExec(exec, ssh),
    caps,
    stage: (argv) => sshCommandArgv(ssh, argv),
    where: sshWhere(ssh),
    ssh,
  }
}

test('pull: the source gate refusing a dataset’s listing is BK_ERR_REMOTE_GATE_REFUSED', async () => {
  const list = ['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-r', 'tank/other']
  const exec = new FixtureExec([
    {
      argv: sshCommandArgv(ssh, list),
      exitCode: 126,
      stderr: `backstop-gate: refused: ${list.join(' ')}: "tank/other" is outside tank/data\n`,
    },
  ])
  const err: unknown = await listDatasets(remote(exec).exec, ['tank/other']).then(
    () => null,
    (e: unknown) => e,
  )
  exec.assertAllUsed()
  assert.ok(isBackstopError(err), String(err))
  assert.equal(err.code, 'BK_ERR_REMOTE_GATE_REFUSED')
  assert.match(err.message, /the gate on root@pve1:22 refused zfs list .*"tank\/other" is outside tank\/data/)
  assert.match(err.message, /backstop-agent remote authorized-key/)
})

test('pull: a full local pool while ssh exits 255 is a full pool naming it, not a cut', async () => {
  const send = sendArgv('tank/data@s2', 'tank/data@s1', {})
  const recv = receiveArgv('nas/pulled/tank/data', caps)
  const exec = new FixtureExec([
    { argv: sshCommandArgv(ssh, send), exitCode: 255, stderr: '' },
    { argv: recv, exitCode: 1, stderr: 'cannot receive incremental stream: out of space\n' },
  ])
  const link: ReplicationLink = {
    local: exec,
    source: remote(exec),
    target: localSide(exec, caps),
    name: 'pull',
    send: {},
    throttle: null,
  }
  const report = new RunReport()
  const plan = { source: 'tank/data', targetDs: 'nas/pulled/tank/data', newest: 's2', base: 's1' }
  const limits = { timeoutMs: 60_000, signal: new AbortController().signal }
  assert.equal(await sendOne(link, plan, new Set(['nas/pulled/tank']), report, limits), 'failed')
  exec.assertAllUsed()
  assert.deepEqual(
    report.errors.map((e) => e.code),
    ['BK_ERR_REPLICATION_FAILED'],
  )
  assert.match(report.errors[0]!.message, /out of space — the target pool is full \(nas on local\): free space there/)
})

test('pull resume on OpenZFS: ssh … zfs send -t <token> | zfs receive -s; a gate refusal keeps its code', async () => {
  const resumable = { ...caps, resumable: true }
  const token = '1-e604ea4bf-e0-789c63a2'
  const ds = 'backup/pulled/tank/data'
  const receive = receiveArgv(ds, resumable)
  assert.ok(receive.includes('-s'), 'the puller keeps a cut receive’s state')
  const send = sshCommandArgv(ssh, ['zfs', 'send', '-t', token])
  const exec = new FixtureExec([
    { argv: send, bytesPiped: 8192 },
    { argv: receive },
    {
      argv: send,
      exitCode: 126,
      stderr:
        'backstop-gate: refused: zfs send -t <token>: it resumes tank/secret@s1: ' +
        '"tank/secret@s1" is outside tank/data\n',
    },
    { argv: receive, exitCode: 1, stderr: 'cannot receive: failed to read from stream\n' },
  ])
  const source = { ...remote(exec), caps: resumable }
  const link: ReplicationLink = {
    local: exec,
    source,
    target: localSide(exec, resumable),
    name: 'pull',
    send: {},
    throttle: null,
  }
  const limits = { timeoutMs: 60_000, signal: new AbortController().signal }
  const ok = new RunReport()
  assert.equal(await resumeCut(link, new Map([[ds, token]]), ok, limits), 1)
  assert.match(ok.warnings.join('\n'), /resumed the cut transfer into backup\/pulled\/tank\/data/)
  const refused = new RunReport()
  assert.equal(await resumeCut(link, new Map([[ds, token]]), refused, limits), 0)
  exec.assertAllUsed()
  assert.equal(refused.errors[0]?.code, 'BK_ERR_REMOTE_GATE_REFUSED', JSON.stringify(refused.errors))
  assert.match(refused.errors[0]!.message, /it resumes tank\/secret@s1/)
})
