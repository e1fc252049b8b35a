// One hashing run of the agent's archive verification (archive-files.ts sha256File, the code the SEA binary runs in
// verify-copy and after each archive), timed inside the process so tsx's start-up is not counted. Prints JSON.
//   node --import tsx bench/agent-footprint/hash-child.ts <file>
import { sha256File } from '../../agent/src/jobs/archive/archive-files.ts'

const file = process.argv[2]
if (!file) {
  throw new Error('usage: hash-child.ts <file>')
}
const cpu0 = process.cpuUsage()
const t0 = performance.now()
const hash = await sha256File(file)
const ms = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
console.log(JSON.stringify({ hash, ms, cpuMs: (cpu.user + cpu.system) / 1000 }))
