// Starts a real VS Code (code-server 4.100.3 = VS Code 1.100.3 with a Node extension host) for the tests:
// on a free loopback port, in its own process group, with fresh user-data, extensions and config folders,
// and always stops it again (the whole process group: server, extension host, training workers), also when
// the test process is interrupted or fails. Installed by scripts/vscode/install-code-server.mjs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
/** Screenshots and other artifacts of the VS Code tests (gitignored). */
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'vscode');

export interface CodeServerOptions {
  /** Folder the workbench opens. */
  workspace: string;
  /** Extra environment for the server (and so the extension host and its children). */
  env?: NodeJS.ProcessEnv;
  /** User settings (settings.json) on top of the quiet defaults below. */
  settings?: Record<string, unknown>;
  /** Where the server's own output goes (default: kept in memory, printed if it fails to start). */
  verbose?: boolean;
  /** Leave workspace trust on, so that the (never trusted) test folder opens in restricted mode. */
  untrusted?: boolean;
}

export interface CodeServer {
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** host:port, the authority the vscode-remote:// URIs of the payload must use. */
  authority: string;
  workspace: string;
  userDataDir: string;
  /** Server output so far (stdout and stderr). */
  output(): string;
  /** Workbench URL for the folder, optionally with a payload (extensionDevelopmentPath, extensionTestsPath…). */
  url(payload?: [string, string][]): string;
  /** vscode-remote URI of a local path, as the payload needs it. */
  remoteUri(path: string): string;
  stop(): Promise<void>;
}

/** Settings that keep the workbench quiet and offline: no welcome page, tips, update checks or telemetry. */
export const QUIET_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'typescript.disableAutomaticTypeAcquisition': true,
  'npm.autoDetect': 'off',
  'files.hotExit': 'off',
  'chat.commandCenter.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

/** Installs code-server if needed (once; cached) and returns the path of its launcher. */
export function ensureCodeServer(): string {
  const script = join(REPO_ROOT, 'scripts', 'vscode', 'install-code-server.mjs');
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`code-server is not installed and could not be installed (see above): exit ${r.status}`);
  return r.stdout.trim().split('\n').pop()!;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

/**
 * Every process started under a test server carries this variable (value: the run's id) in its environment.
 * Training workers are forked `detached` (they survive a window reload), so they leave the server's process
 * group; stop() finds them by this tag in /proc and kills them too.
 */
export const RUN_TAG_VAR = 'AUTOML_TEST_RUN';

/** Pids of live processes whose environment has RUN_TAG_VAR=tag (Linux /proc; empty elsewhere). */
export function taggedPids(tag: string): number[] {
  const needle = Buffer.from(`${RUN_TAG_VAR}=${tag}\0`);
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/environ`).includes(needle)) pids.push(Number(e));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function killTagged(tag: string): void {
  for (const pid of taggedPids(tag)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const live = new Map<ChildProcess, { tag: string; home: string }>();
let hooksInstalled = false;

/** Kills the process group of `child` (it was started detached, so its pid is the group id). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL the groups still alive.
  const killAll = () => {
    for (const [c, { tag, home }] of live) {
      killGroup(c, 'SIGKILL');
      killTagged(tag);
      rmSync(home, { recursive: true, force: true });
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

async function waitHealthy(origin: string, child: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`code-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out()}`);
    }
    try {
      const r = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer /healthz within ${timeoutMs / 1000} s (${last}):\n${out()}`);
}

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const bin = ensureCodeServer();
  installExitHooks();
  const home = mkdtempSync(join(tmpdir(), 'automl-code-server-'));
  const userDataDir = join(home, 'user-data');
  const extensionsDir = join(home, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  const trust = opts.untrusted ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' } : {};
  writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...trust, ...opts.settings }, null, 2));
  const port = await freePort();
  const tag = `${process.pid}-${port}-${Date.now()}`;
  const authority = `127.0.0.1:${port}`;
  const origin = `http://${authority}`;
  const args = [
    '--auth',
    'none',
    '--bind-addr',
    authority,
    '--config',
    join(home, 'config.yaml'),
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    ...(opts.untrusted ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--ignore-last-opened',
    opts.workspace,
  ];
  const child = spawn(bin, args, {
    cwd: opts.workspace,
    detached: true, // its own process group: stop() kills the server, the extension host and what they started
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // code-server writes its state (coder.json, config) under XDG folders: keep them in the temp home.
      XDG_CONFIG_HOME: join(home, 'xdg-config'),
      XDG_DATA_HOME: join(home, 'xdg-data'),
      ...opts.env,
      [RUN_TAG_VAR]: tag,
    },
  });
  live.set(child, { tag, home });
  let log = '';
  const onData = (d: Buffer) => {
    const s = d.toString();
    log += s;
    if (log.length > 200_000) log = log.slice(-100_000);
    if (opts.verbose) process.stderr.write(s);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((res) => child.once('exit', () => res()));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    // What outlives the server goes too: the rest of its group, and detached training workers.
    killGroup(child, 'SIGKILL');
    killTagged(tag);
    live.delete(child);
    rmSync(home, { recursive: true, force: true });
  };

  try {
    await waitHealthy(origin, child, () => log, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  const remoteUri = (p: string) => `vscode-remote://${authority}${encodeURI(resolve(p))}`;
  return {
    port,
    origin,
    authority,
    workspace: opts.workspace,
    userDataDir,
    output: () => log,
    remoteUri,
    url: (payload) => {
      const q = new URLSearchParams({ folder: resolve(opts.workspace) });
      if (payload?.length) q.set('payload', JSON.stringify(payload));
      return `${origin}/?${q.toString()}`;
    },
    stop,
  };
}
