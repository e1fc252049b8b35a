// Child process for crash-consistency.int.test.ts: replaces argv[2] with the content of file argv[3] and dies by
// SIGKILL just before the durable write's file-system call number argv[4] (0-based). A death inside the data write
// comes after half the data is on disk, the worst moment. argv[4] = "naive" writes the target in place instead,
// as a control.
import * as nodeFs from 'node:fs'
import { writeFileDurableSync, type DurableFsSync } from '@backstop/node-io'

const [target, source, at] = process.argv.slice(2) as [string, string, string]
const data = nodeFs.readFileSync(source, 'utf8')

function die(): never {
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable: SIGKILL was sent')
}

function writeHalfThenDie(fd: number): never {
  nodeFs.writeSync(fd, data.slice(0, data.length / 2))
  nodeFs.fsyncSync(fd)
  return die()
}

if (at === 'naive') {
  writeHalfThenDie(nodeFs.openSync(target, 'w'))
}

const crashAt = Number(at)
let step = 0
/** Runs the real call unless this is the step to die at. */
function gate<A extends unknown[], R>(call: (...a: A) => R, onCrash: (...a: A) => never = die): (...a: A) => R {
  return (...a: A) => (step++ === crashAt ? onCrash(...a) : call(...a))
}

const crashingFs: DurableFsSync = {
  openSync: gate(nodeFs.openSync) as DurableFsSync['openSync'],
  fchmodSync: gate(nodeFs.fchmodSync),
  writeFileSync: gate(nodeFs.writeFileSync, (fd) => writeHalfThenDie(fd as number)) as DurableFsSync['writeFileSync'],
  fsyncSync: gate(nodeFs.fsyncSync),
  closeSync: gate(nodeFs.closeSync),
  renameSync: gate(nodeFs.renameSync),
  linkSync: gate(nodeFs.linkSync),
  unlinkSync: gate(nodeFs.unlinkSync),
}
writeFileDurableSync(target, data, { fs: crashingFs })
