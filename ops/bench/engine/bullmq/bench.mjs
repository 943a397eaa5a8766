// BullMQ baseline for ops/bench/engine (see ops/bench/README.md).
//
// 1. Throughput: a Worker (concurrency 64 by default, processor returns at once) is running before
//    the first add; N no-op jobs are added with addBulk in chunks; the clock runs from the first add
//    to the last `completed` event.
// 2. Idle pickup latency: with the worker idle, one job at a time is added (200 times, each after
//    the previous one completed, a few ms apart); latency = processor start - time just before add.
//
// Prints ONE JSON line on stdout; progress goes to stderr. All keys of the run's queue are removed
// at the end (obliterate, then a SCAN for leftovers).
//
// Usage: node bench.mjs [--jobs N] [--concurrency C] [--chunk K] [--samples S] [--prefix P]
// Env:   REDIS_URL (redis://127.0.0.1:6379), BENCH_PREFIX (findash-bench), BENCH_JOBS,
//        BENCH_CONCURRENCY.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

function parseArgs(argv) {
  const opts = {
    jobs: Number(process.env.BENCH_JOBS ?? 50000),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 64),
    chunk: 1000,
    samples: 200,
    prefix: process.env.BENCH_PREFIX ?? 'findash-bench',
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    if (!(key in opts) || value === undefined) {
      throw new Error(`unknown or incomplete argument: ${argv[i]}`);
    }
    opts[key] = key === 'prefix' ? value : Number(value);
  }
  for (const key of ['jobs', 'concurrency', 'chunk', 'samples']) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) {
      throw new Error(`--${key} must be a positive integer`);
    }
  }
  return opts;
}

// Nearest-rank percentile of an ascending array.
function percentile(sorted, p) {
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

const round = (x, digits) => Number(x.toFixed(digits));

async function main() {
  const opts = parseArgs(process.argv);
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  // Workers need maxRetriesPerRequest: null (blocking commands must not be retried away).
  const connection = { url, maxRetriesPerRequest: null };
  const queueName = `bullmq-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const prefix = opts.prefix;
  const defaultJobOptions = { removeOnComplete: true, removeOnFail: true };

  const queue = new Queue(queueName, { connection, prefix, defaultJobOptions });

  let completed = 0;
  let target = opts.jobs;
  let allDone;
  let donePromise = new Promise((resolve) => (allDone = resolve));
  const pickupMs = [];

  const worker = new Worker(
    queueName,
    async (job) => {
      if (job.data.t !== undefined) {
        pickupMs.push(performance.now() - job.data.t);
      }
    },
    { connection, prefix, concurrency: opts.concurrency },
  );
  worker.on('completed', () => {
    completed += 1;
    if (completed === target) allDone();
  });
  worker.on('failed', (job, err) => {
    console.error(`bullmq: job ${job?.id} failed: ${err?.message}`);
  });
  worker.on('error', (err) => console.error(`bullmq: worker error: ${err.message}`));

  try {
    await queue.waitUntilReady();
    await worker.waitUntilReady();

    // --- throughput ---------------------------------------------------------------------------
    console.error(`bullmq: ${opts.jobs} jobs, concurrency ${opts.concurrency}, queue ${prefix}:${queueName}`);
    const t0 = performance.now();
    for (let added = 0; added < opts.jobs; added += opts.chunk) {
      const n = Math.min(opts.chunk, opts.jobs - added);
      const batch = Array.from({ length: n }, () => ({ name: 'noop', data: {} }));
      await queue.addBulk(batch);
    }
    await donePromise;
    const seconds = (performance.now() - t0) / 1000;

    // --- idle pickup latency ------------------------------------------------------------------
    await sleep(200); // let the worker go idle (blocked waiting for the next job)
    for (let i = 0; i < opts.samples; i++) {
      target = completed + 1;
      donePromise = new Promise((resolve) => (allDone = resolve));
      await queue.add('pickup', { t: performance.now() });
      await donePromise;
      await sleep(5);
    }
    const sorted = [...pickupMs].sort((a, b) => a - b);

    const result = {
      system: 'bullmq',
      jobs: opts.jobs,
      concurrency: opts.concurrency,
      seconds: round(seconds, 3),
      jobs_per_sec: Math.round(opts.jobs / seconds),
      pickup_p50_ms: round(percentile(sorted, 0.5), 2),
      pickup_p99_ms: round(percentile(sorted, 0.99), 2),
      pickup_samples: sorted.length,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch((err) => {
      console.error(`bullmq: obliterate failed: ${err.message}`);
    });
    await queue.close();
    // Belt and braces: remove anything obliterate left under this run's queue.
    const client = new Redis(url);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:${queueName}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) {
          console.error(`bullmq: removing ${keys.length} leftover keys`);
          await client.del(...keys);
        }
      } while (cursor !== '0');
    } finally {
      client.disconnect();
    }
  }
}

main().catch((err) => {
  console.error(`bullmq bench failed: ${err.stack ?? err}`);
  process.exit(1);
});
