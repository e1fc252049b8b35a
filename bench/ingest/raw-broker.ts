// The peer for bench/ingest: plain aedes 1.2 with no hooks, in its own process (as the collector is).
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'

const broker = await Aedes.createBroker()
const server = createServer(broker.handle)
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`RAW_BROKER_PORT=${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
})
