// A pid from worker.json is followed or signalled only when it is this product's worker for that
// experiment (src/worker/identity.ts), checked against real child processes: a `sleep` is refused,
// the real worker bundle started with workerArgs is accepted.
import * as assert from 'node:assert/strict';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExperimentSpec, WorkerHeartbeat } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';
import { newWorkerToken, verifyWorkerPid, workerArgs } from '../../../src/worker/identity';
import { WorkerClient } from '../../../src/worker/client';
import { ExperimentManager } from '../../../src/worker/manager';

const WORKER = join(__dirname, '..', '..', '..', 'src', 'worker', 'main.js');
const linux = process.platform === 'linux';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** The real worker bundle, idle (no `start` message), with the arguments the host gives it. */
function idleWorker(dir: string, token: string): ChildProcess {
  return fork(WORKER, workerArgs(dir, token), { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
}

describe('worker identity (pid checks before following or signalling)', function () {
  this.timeout(30_000);
  let root: string;
  const children: ChildProcess[] = [];

  before(function () {
    if (!linux) this.skip(); // /proc and procps `ps`
    root = mkdtempSync(join(tmpdir(), 'automl-identity-'));
  });
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });
  after(() => root && rmSync(root, { recursive: true, force: true }));

  function sleeper(): ChildProcess {
    const c = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(c);
    return c;
  }

  it('refuses pids that signal groups or every process, and non-numbers', () => {
    for (const pid of [0, -1, 1, -1234, 1.5, Number.NaN, '123', null]) {
      assert.equal(verifyWorkerPid(pid, { workerPath: WORKER, experimentDir: root }).ok, false, String(pid));
    }
  });

  it('refuses a `sleep` child and a process that is gone', async () => {
    const s = sleeper();
    const v = verifyWorkerPid(s.pid, { workerPath: WORKER, experimentDir: root, token: newWorkerToken() });
    assert.equal(v.ok, false);
    assert.match((v as { reason: string }).reason, /does not run/);
    s.kill('SIGKILL');
    await exited(s);
    assert.equal(verifyWorkerPid(s.pid, { workerPath: WORKER, experimentDir: root }).ok, false);
  });

  it('accepts the worker bundle started for this experiment with this token, and nothing else', async () => {
    const dir = join(root, 'exp-a');
    const token = newWorkerToken();
    const w = idleWorker(dir, token);
    children.push(w);
    await new Promise((r) => w.once('message', r)); // `ready`: argv is in place
    assert.deepEqual(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir, token }), { ok: true });
    assert.deepEqual(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir }), { ok: true }, 'worker.json without a token (Linux)');
    assert.equal(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: join(root, 'exp-b'), token }).ok, false, 'another experiment');
    assert.equal(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir, token: newWorkerToken() }).ok, false, 'another token');
    assert.equal(verifyWorkerPid(w.pid, { workerPath: join(root, 'worker.js'), experimentDir: dir, token }).ok, false, 'another bundle');
    // The macOS way (`ps -ww -o command= -p`) works with procps too: the token is required there.
    assert.deepEqual(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir, token }, 'darwin'), { ok: true });
    assert.equal(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir }, 'darwin').ok, false);
    assert.equal(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir, token: newWorkerToken() }, 'darwin').ok, false);
    assert.equal(verifyWorkerPid(w.pid, { workerPath: WORKER, experimentDir: dir, token }, 'win32').ok, false, 'not verifiable on Windows');
  });

  it('a worker started by WorkerClient records the token of its command line in worker.json', async () => {
    const spec = {
      id: 'token',
      name: 'token',
      dataset: join(root, 'missing.csv'),
      budgetMinutes: 1,
      backend: 'cpu',
      seed: 1,
      imageSize: 0,
      fit: 'pad',
      cacheDir: join(root, 'cache'),
      createdAt: new Date().toISOString(),
    } as ExperimentSpec;
    const store = ExperimentStore.create(join(root, 'token-exps'), spec);
    const client = WorkerClient.start({ experimentDir: store.dir, spec, resume: false, workerPath: WORKER });
    assert.match(client.token, /^[0-9a-f]{32}$/);
    await client.done; // the dataset is missing: it fails fast, after the heartbeat
    const beat = JSON.parse(readFileSync(join(store.dir, 'worker.json'), 'utf8')) as WorkerHeartbeat;
    assert.equal(beat.pid, client.child.pid);
    assert.equal(beat.token, client.token);
  });

  describe('ExperimentManager.reattach / stop', () => {
    function crafted(name: string, pid: number | undefined, token?: string): string {
      const spec = {
        id: name,
        name,
        dataset: join(root, 'none.csv'),
        budgetMinutes: 1,
        backend: 'cpu',
        seed: 1,
        imageSize: 0,
        fit: 'pad',
        createdAt: new Date().toISOString(),
      } as ExperimentSpec;
      const store = ExperimentStore.create(join(root, 'experiments'), spec);
      store.updateRecord({ status: 'running' });
      // A heartbeat in the future: what a crafted file would say to look fresh.
      const beat: WorkerHeartbeat = {
        pid: pid ?? -1,
        ...(token ? { token } : {}),
        startedAt: new Date().toISOString(),
        heartbeatAt: new Date(Date.now() + 3600_000).toISOString(),
      };
      writeFileSync(join(store.dir, 'worker.json'), JSON.stringify(beat));
      return store.dir;
    }

    it('does not follow or signal a worker.json that names a `sleep`; marks the experiment interrupted', async () => {
      const s = sleeper();
      const dir = crafted('decoy', s.pid);
      const manager = new ExperimentManager({ workerPath: WORKER });
      try {
        assert.deepEqual(manager.reattach(join(root, 'experiments')), []);
        assert.equal(manager.isRunning(dir), false);
        assert.equal(new ExperimentStore(dir).readRecord().status, 'interrupted');
        assert.equal(manager.stop(dir), undefined);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(alive(s.pid!), true, 'the sleep was signalled');
      } finally {
        manager.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('follows and stops its own worker; refuses to signal once the pid is no longer it', async () => {
      const manager = new ExperimentManager({ workerPath: WORKER });
      try {
        // Followed, then stopped with SIGTERM (an idle worker exits on it).
        const dirA = crafted('real-a', undefined);
        const tokenA = newWorkerToken();
        const a = idleWorker(dirA, tokenA);
        children.push(a);
        await new Promise((r) => a.once('message', r));
        writeFileSync(
          join(dirA, 'worker.json'),
          JSON.stringify({ pid: a.pid, token: tokenA, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() }),
        );
        const followed = manager.reattach(join(root, 'experiments'));
        assert.deepEqual(followed, [dirA]);
        assert.equal(manager.stop(dirA), undefined);
        await exited(a);
        assert.equal(a.signalCode ?? a.exitCode, 0, 'the idle worker exits 0 on SIGTERM');

        // Followed, then the pid stops being the worker before Stop: refused with a clear message.
        const dirB = crafted('real-b', undefined);
        const tokenB = newWorkerToken();
        const b = idleWorker(dirB, tokenB);
        children.push(b);
        await new Promise((r) => b.once('message', r));
        writeFileSync(
          join(dirB, 'worker.json'),
          JSON.stringify({ pid: b.pid, token: tokenB, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() }),
        );
        assert.ok(manager.reattach(join(root, 'experiments')).includes(dirB));
        b.kill('SIGKILL');
        await exited(b);
        const refused = manager.stop(dirB);
        assert.equal(refused?.startsWith(`pid ${b.pid} in worker.json is not this experiment's worker; not stopping it`), true, refused);
      } finally {
        manager.dispose();
      }
    });
  });
});
