import { parentPort, workerData } from 'node:worker_threads'
import { inspectBackup } from './backup-file.ts'

// One backup file per worker: PRAGMA integrity_check reads every page of it, seconds for a large database, which
// must not stall the broker and the ingest on the main thread. A Map (highWater) survives postMessage.
parentPort?.postMessage(inspectBackup((workerData as { path: string }).path))
