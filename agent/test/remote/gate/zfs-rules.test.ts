import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkZfsCommand, type ZfsGateRules } from '../../../src/remote/gate/zfs-rules.ts'
import { lightListArgv, listSnapshotsArgv, minimalZfsCapabilities, receiveArgv } from '../../../src/tools/zfs.ts'

const receive: ZfsGateRules = { role: 'receive', prefix: 'nas/replicas' }
const send: ZfsGateRules = { role: 'send', datasets: ['tank/data'] }
const ok = (argv: string[], rules: ZfsGateRules): void =>
  assert.deepEqual(checkZfsCommand(argv, rules), { allow: true }, argv.join(' '))
const refused = (argv: string[], rules: ZfsGateRules, why: RegExp): void => {
  const d = checkZfsCommand(argv, rules)
  assert.equal(d.allow, false, `${argv.join(' ')} must be refused`)
  assert.match(d.allow ? '' : d.reason, why)
}

test('receive role: the commands a push sender runs are allowed, below the prefix only', () => {
  const openzfs = { ...minimalZfsCapabilities, receiveNoMount: true, resumable: true, receiveProps: true }
  for (const argv of [
    ['zfs'],
    receiveArgv('nas/replicas/tank/data', openzfs),
    receiveArgv('nas/replicas/tank/data', minimalZfsCapabilities),
    ['zfs', 'receive', '-A', 'nas/replicas/tank/data'],
    ['zfs', 'create', '-p', '-o', 'mountpoint=none', 'nas/replicas'],
    ['zfs', 'create', '-p', 'nas/replicas/tank'],
    ['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-r', 'nas/replicas'],
    listSnapshotsArgv(minimalZfsCapabilities, ['nas/replicas']),
    listSnapshotsArgv({ ...minimalZfsCapabilities, parsableList: true }, ['nas/replicas']),
    lightListArgv(['nas/replicas']),
    ['zfs', 'get', '-H', '-r', '-o', 'name,value', 'receive_resume_token', 'nas/replicas'],
    ['zfs', 'get', '-H', '-o', 'value', 'mountpoint', 'nas/replicas'],
    ['zfs', 'hold', 'backstop-job-nas', 'nas/replicas/tank/data@backstop_20261110T000000Z_h'],
    ['zfs', 'release', 'backstop-job-nas', 'nas/replicas/tank/data@backstop_20261110T000000Z_h'],
    ['zpool', 'list', '-H', '-o', 'name,size,allocated,free,capacity,health,guid', 'nas'],
    ['zpool', 'status', 'nas'],
  ]) {
    ok(argv, receive)
  }
})

test('receive role: destroy, rollback, -F, other datasets and smuggled options are refused', () => {
  refused(['zfs', 'destroy', 'nas/replicas/tank/data@s1'], receive, /zfs destroy is not allowed/)
  refused(['zfs', 'destroy', '-r', 'nas/replicas'], receive, /not allowed/)
  refused(['zfs', 'rollback', '-r', 'nas/replicas/tank/data@s1'], receive, /not allowed/)
  refused(['zfs', 'receive', '-F', 'nas/replicas/tank/data'], receive, /option -F/)
  refused(['zfs', 'receive', '-uF', 'nas/replicas/tank/data'], receive, /option -F/)
  refused(['zfs', 'receive', 'nas/replicas/tank/data', '-F'], receive, /after an operand/)
  refused(['zfs', 'receive', '-o', 'mountpoint=/etc', 'nas/replicas/x'], receive, /option -o/)
  refused(['zfs', 'receive', '-d', 'nas/replicas'], receive, /option -d/)
  refused(['zfs', 'receive', 'nas/other'], receive, /outside nas\/replicas/)
  refused(['zfs', 'receive', 'nas/replicas'], receive, /outside/)
  refused(['zfs', 'receive', 'nas/replicasX/y'], receive, /outside/)
  refused(['zfs', 'send', 'nas/replicas/tank/data@s1'], receive, /zfs send is not allowed/)
  refused(['zfs', 'set', 'readonly=off', 'nas/replicas/tank/data'], receive, /not allowed/)
  refused(['zfs', 'hold', 'keep', 'nas/replicas/tank/data@s1'], receive, /tag/)
  refused(['zfs', 'release', 'operator', 'nas/replicas/tank/data@s1'], receive, /tag/)
  refused(['zfs', 'get', 'all', 'nas/replicas'], receive, /replication properties/)
  refused(['zfs', 'list', '-o', 'name', '-r', 'nas'], receive, /outside/)
  refused(['zpool', 'destroy', 'nas'], receive, /not allowed/)
  refused(['zpool', 'status', 'rpool'], receive, /only pool nas/)
  refused(['sh', '-c', 'zfs destroy x'], receive, /only zfs and zpool/)
  refused(['zfs', 'receive', 'nas/replicas/a;rm'], receive, /not a plain ZFS name/)
})

test('send role: only `zfs send` of the listed datasets, their listing and our holds', () => {
  for (const argv of [
    ['zfs', 'send', 'tank/data@backstop_20261110T000000Z_h'],
    ['zfs', 'send', '-I', 'tank/data@a', 'tank/data@b'],
    ['zfs', 'send', '-w', '-c', '-I', 'tank/data/child@a', 'tank/data/child@b'],
    ['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-r', 'tank/data'],
    lightListArgv(['tank/data']),
    ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', 'guid,createtxg', 'tank/data@a', 'tank/data@b'],
    ['zfs', 'hold', 'backstop-pull-nas', 'tank/data@b'],
  ]) {
    ok(argv, send)
  }
  refused(['zfs', 'send', 'tank/secret@a'], send, /outside tank\/data/)
  refused(['zfs', 'send', '-I', 'tank/secret@a', 'tank/data@b'], send, /option -I/)
  refused(['zfs', 'send', '-R', 'tank/data@a'], send, /option -R/)
  // A resume token is allowed here only as `zfs send -t <token>`, marked for the gate to decode (gate.test.ts).
  const token = '1-e604ea4bf-e0-789c63a2'
  assert.deepEqual(checkZfsCommand(['zfs', 'send', '-t', token], send), { allow: true, resumeToken: token })
  refused(['zfs', 'send', '-t', '1-abc;rm'], send, /token/)
  refused(['zfs', 'send', '-t', token, 'tank/secret@a'], send, /option -t/)
  refused(['zfs', 'send', '-t', token], receive, /zfs send is not allowed/)
  refused(['zfs', 'receive', 'tank/data/x'], send, /zfs receive is not allowed/)
  refused(['zfs', 'destroy', 'tank/data@a'], send, /zfs destroy is not allowed/)
  refused(['zfs', 'send', 'tank/data'], send, /not a snapshot/)
})
