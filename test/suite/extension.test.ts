// The extension in a real VS Code: activation, commands, views, settings, workspace trust.
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { activated, DECOY_EXPERIMENT, extension, isAlive, manifest, readRecord, workspaceRoot } from './helpers';

/** automl.* commands registered on purpose without a package.json entry (none so far). */
const INTERNAL_COMMANDS: string[] = [];

describe('AutoML extension', () => {
  before(async function () {
    this.timeout(60_000);
    await activated();
  });

  it('activates and returns its API', () => {
    const ext = extension();
    assert.equal(ext.isActive, true);
    assert.equal(typeof ext.exports.experimentsRoot, 'function', 'activate() must return { manager, experimentsRoot }');
    assert.equal(typeof ext.exports.manager?.isRunning, 'function');
  });

  it('registers every command that package.json contributes', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    const declared = manifest().contributes.commands.map((c) => c.command);
    assert.ok(declared.length > 0, 'package.json contributes no commands');
    const missing = declared.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `commands in package.json but not registered by the extension: ${missing.join(', ')}`);
  });

  it('registers no automl.* command that package.json does not declare', async () => {
    const m = manifest();
    const declared = new Set(m.contributes.commands.map((c) => c.command));
    // VS Code adds <view id>.focus, .resetViewLocation, … for every contributed view.
    const viewIds = Object.values(m.contributes.views)
      .flat()
      .map((v) => v.id);
    const extra = (await vscode.commands.getCommands(true)).filter(
      (id) => id.startsWith('automl.') && !declared.has(id) && !INTERNAL_COMMANDS.includes(id) && !viewIds.some((v) => id.startsWith(`${v}.`)),
    );
    assert.deepEqual(extra, [], `commands registered but not in package.json (a typo in an id?): ${extra.join(', ')}`);
  });

  it('contributes the AutoML activity bar container with the Experiments and Datasets views', async () => {
    const m = manifest();
    const container = m.contributes.viewsContainers.activitybar.find((c) => c.id === 'automl');
    assert.ok(container, 'no "automl" view container in the activity bar');
    assert.equal(container.title, 'AutoML');
    assert.deepEqual(
      m.contributes.views.automl.map((v) => [v.id, v.name]),
      [
        ['automl.experiments', 'Experiments'],
        ['automl.datasets', 'Datasets'],
      ],
    );
    // VS Code itself knows them: it registered the commands that open them, and they open.
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const id of ['workbench.view.extension.automl', 'automl.experiments.focus', 'automl.datasets.focus']) {
      assert.ok(registered.has(id), `VS Code did not register ${id}`);
    }
    await vscode.commands.executeCommand('workbench.view.extension.automl');
    await vscode.commands.executeCommand('automl.experiments.focus');
    await vscode.commands.executeCommand('automl.datasets.focus');
  });

  it('reads every setting with the default package.json declares', () => {
    const props = manifest().contributes.configuration.properties;
    const cfg = vscode.workspace.getConfiguration();
    for (const [key, decl] of Object.entries(props)) {
      const inspected = cfg.inspect(key);
      assert.ok(inspected, `setting ${key} is unknown to VS Code`);
      assert.deepEqual(inspected.defaultValue, decl.default, `default of ${key}`);
    }
    const automl = vscode.workspace.getConfiguration('automl');
    assert.equal(automl.get('timeBudgetMinutes'), 10);
    assert.equal(automl.get('backend'), 'auto');
    assert.equal(automl.get('experimentsFolder'), '.automl/experiments');
    assert.equal(automl.get('imageFit'), 'pad');
  });

  it('keeps experiments in <workspace>/.automl/experiments by default', () => {
    assert.equal(extension().exports.experimentsRoot(), join(workspaceRoot(), '.automl', 'experiments'));
  });

  describe('workspace trust', () => {
    it('declares limited support for untrusted workspaces and restricts the risky settings', () => {
      const caps = manifest().capabilities?.untrustedWorkspaces;
      assert.ok(caps, 'package.json has no capabilities.untrustedWorkspaces');
      assert.equal(caps.supported, 'limited');
      const props = manifest().contributes.configuration.properties;
      for (const key of caps.restrictedConfigurations ?? []) assert.ok(key in props, `restricted setting ${key} is not declared`);
      assert.ok((caps.restrictedConfigurations ?? []).includes('automl.experimentsFolder'));
    });

    it('runs trusted in this test window (the harness disables workspace trust)', () => {
      assert.equal(vscode.workspace.isTrusted, true);
    });
  });

  // Runs in test/vscode/run-suite.ts's second pass: a fresh window with workspace trust on and the test
  // folder not trusted, whose .vscode/settings.json sets restricted settings (UNTRUSTED_FOLDER_SETTINGS).
  describe('in an untrusted workspace @untrusted', () => {
    before(function () {
      if (!process.env.AUTOML_TEST_UNTRUSTED) this.skip(); // only the harness's untrusted pass
      assert.equal(vscode.workspace.isTrusted, false, 'the untrusted pass opened a trusted folder');
    });

    it('activates in restricted mode', async () => {
      const api = await activated();
      assert.equal(extension().isActive, true);
      assert.equal(typeof api.experimentsRoot, 'function');
    });

    it("ignores the folder's values of restricted settings", () => {
      const automl = vscode.workspace.getConfiguration('automl');
      assert.equal(automl.get('experimentsFolder'), '.automl/experiments', 'automl.experimentsFolder from an untrusted folder was applied');
      assert.equal(automl.get('backend'), 'auto', 'automl.backend from an untrusted folder was applied');
      assert.equal(extension().exports.experimentsRoot(), join(workspaceRoot(), '.automl', 'experiments'));
    });

    it('refuses to train: automl.trainDataset returns nothing and creates no experiment', async () => {
      const csv = vscode.Uri.file(join(workspaceRoot(), 'examples', 'fashion-sample', 'dataset.csv'));
      const dir = await vscode.commands.executeCommand('automl.trainDataset', csv, { budgetMinutes: 0.5, openPanel: false });
      assert.equal(dir, undefined);
      // The harness's crafted experiment is the only one.
      assert.deepEqual(readdirSync(join(workspaceRoot(), '.automl', 'experiments')), ['decoy-worker'], 'an experiment folder was created');
      assert.equal(existsSync('/tmp/automl-untrusted-must-not-be-used'), false);
    });

    it('refuses to serve models: automl.startServer returns nothing', async () => {
      const served = await vscode.commands.executeCommand('automl.startServer', join(workspaceRoot(), 'examples'));
      assert.equal(served, undefined);
    });

    it('refuses to predict: automl.openPredict opens no Predict panel', async () => {
      await vscode.commands.executeCommand('automl.openPredict', join(workspaceRoot(), DECOY_EXPERIMENT));
      await new Promise((r) => setTimeout(r, 500));
      const labels = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label);
      assert.equal(labels.filter((l) => l.startsWith('Predict')).length, 0, `tabs: ${labels.join(', ')}`);
    });

    // test/vscode/workspace.ts plants an experiment marked running whose worker.json names a `sleep`.
    const decoy = () => {
      const dir = join(workspaceRoot(), DECOY_EXPERIMENT);
      const beat = JSON.parse(readFileSync(join(dir, 'worker.json'), 'utf8')) as { pid: number };
      assert.ok(isAlive(beat.pid), `the harness's decoy process ${beat.pid} is not running`);
      return { dir, pid: beat.pid };
    };

    it('does not reattach at activation: a worker.json is neither followed nor its experiment rewritten', async () => {
      const api = await activated();
      const { dir, pid } = decoy();
      assert.equal(api.manager.isRunning(dir), false, 'the extension follows the pid of a crafted worker.json');
      assert.deepEqual(api.manager.running(), []);
      assert.equal(readRecord(dir)?.status, 'running', 'experiment.json was rewritten in an untrusted workspace');
      assert.ok(isAlive(pid));
    });

    it('refuses to stop: automl.stopExperiment signals no pid from worker.json', async () => {
      const { dir, pid } = decoy();
      await vscode.commands.executeCommand('automl.stopExperiment', dir);
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(isAlive(pid), `process ${pid} named by worker.json was killed`);
      assert.equal(readRecord(dir)?.status, 'running');
    });
  });
});
