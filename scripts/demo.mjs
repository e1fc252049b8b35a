#!/usr/bin/env node
// The quick start's main job: a collector (embedded aedes + SQLite) and a local agent that backs up a sample
// directory every minute with the `archive` job, on loopback, over mqtts with the collector's CA pinned by
// fingerprint (as on a real fleet). Prints where to look; Ctrl-C stops both.
//   node scripts/demo.mjs        (env: BACKSTOP_DEMO_DIR, BACKSTOP_API_PORT=8080, BACKSTOP_MQTT_PORT=1883)
import { spawn } from 'node:child_process'
import { randomBytes, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = process.env.BACKSTOP_DEMO_DIR ?? join(root, '.backstop-demo')
const apiPort = Number(process.env.BACKSTOP_API_PORT ?? 8080)
const mqttPort = Number(process.env.BACKSTOP_MQTT_PORT ?? 1883)
const node =
  (process.env.BACKSTOP_DEMO_NODE ?? hostname())
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '') || 'demo-node'

mkdirSync(join(dir, 'sample', 'network'), { recursive: true })
mkdirSync(join(dir, 'agent-state'), { recursive: true, mode: 0o700 })
const tokenFile = join(dir, 'enrollment-token')
if (!existsSync(tokenFile)) {
  writeFileSync(tokenFile, randomBytes(24).toString('base64url'), { mode: 0o600 })
}
const token = readFileSync(tokenFile, 'utf8').trim()
writeFileSync(
  join(dir, 'sample', 'network', 'interfaces'),
  'auto vmbr0\niface vmbr0 inet static\n\taddress 192.0.2.10/24\n',
)
writeFileSync(join(dir, 'sample', 'storage.cfg'), 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n')
writeFileSync(join(dir, 'sample', 'README'), 'Sample data the demo agent archives every minute.\n')

const collectorConfig = join(dir, 'collector.yaml')
writeFileSync(
  collectorConfig,
  `# Written by scripts/demo.mjs
dataDir: ${join(dir, 'collector-data')}
mqtt:
  host: 127.0.0.1
  port: ${mqttPort}
api:
  host: 127.0.0.1
  port: ${apiPort}
enrollment:
  tokens:
    - ${token}
log:
  level: info
`,
)

function writeAgentConfig(fingerprint) {
  writeFileSync(
    join(dir, 'agent.yaml'),
    `# Written by scripts/demo.mjs
node: ${node}
stateDir: ${join(dir, 'agent-state')}
timezone: UTC
collector:
  url: mqtts://127.0.0.1:${mqttPort}
  # The collector's CA (its <dataDir>/tls/ca.pem); the agent refuses any other certificate.
  fingerprint: ${fingerprint}
  enrollmentTokenFile: ${tokenFile}
heartbeatSeconds: 15
jobs:
  - name: sample-config
    kind: archive
    schedule: "* * * * *"
    paths: [${join(dir, 'sample')}]
    destination: ${join(dir, 'backups')}
    retention: { keep: { last: 5 } }
    media: ssd
`,
  )
}

const children = []
function start(name, argv, ready) {
  const child = spawn(process.execPath, argv, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  })
  children.push(child)
  const log = join(dir, `${name}.log`)
  writeFileSync(log, '')
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (d) => {
      out += d.toString()
      writeFileSync(log, d, { flag: 'a' })
      if (ready.test(out)) {
        resolve(child)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      reject(new Error(`${name} exited with ${code}:\n${out.slice(-2000)}`))
      if (!stopping) {
        console.error(`${name} stopped unexpectedly (exit ${code}); see ${log}`)
        shutdown(1)
      }
    })
  })
}

let stopping = false
function shutdown(code = 0) {
  stopping = true
  for (const c of children.reverse()) {
    if (c.exitCode === null) {
      c.kill('SIGTERM')
    }
  }
  setTimeout(() => process.exit(code), 1500).unref()
}
process.on('SIGINT', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))

try {
  await start(
    'collector',
    ['collector/bin/backstop-collector.mjs', 'run', '--config', collectorConfig],
    /backstop-collector: API/,
  )
  const caPem = readFileSync(join(dir, 'collector-data', 'tls', 'ca.pem'), 'utf8')
  writeAgentConfig(new X509Certificate(caPem).fingerprint256)
  await start('agent', ['agent/bin/backstop-agent.mjs', 'run', '--config', join(dir, 'agent.yaml')], /./)
} catch (e) {
  console.error(String(e.message ?? e))
  shutdown(1)
}
const api = `https://127.0.0.1:${apiPort}`
console.log(`
Backstop is running (state and logs in ${dir}).
  node "${node}" archives ${join(dir, 'sample')} every minute into ${join(dir, 'backups')}

  Runs:        ${api}/api/v1/runs
  Copies:      ${api}/api/v1/copies
  Nodes:       ${api}/api/v1/nodes
  Compliance:  ${api}/api/v1/compliance/summary
  API docs:    ${api}/docs
  Metrics:     ${api}/metrics

The API needs a bearer token from the start (docs/security.md, "API bootstrap"). Create the first, an admin
token, on this machine with the CLI (it is printed once):
  node collector/bin/backstop-collector.mjs apitoken create --name admin --role admin --config ${collectorConfig}
then, with the collector's own CA for HTTPS:
  curl --cacert ${join(dir, 'collector-data', 'tls', 'ca.pem')} -H "Authorization: Bearer <token>" ${api}/api/v1/runs
The first run starts within a minute. Ctrl-C stops both.`)
