// A real training run of the sample dataset with a tiny budget, started the way a test or another extension
// starts one: `automl.trainDataset(uri, { budgetMinutes, openPanel: false })` (src/extension.ts TrainOptions),
// so no quick pick is shown. Runs the real worker (dist/worker.js) in a child process of the extension host.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { activated, readRecord, readTrial, waitFor, wsFile } from './helpers';

const SAMPLE_CSV = 'examples/fashion-sample/dataset.csv';
/**
 * Budget of the run; AUTOML_TEST_BUDGET_MIN overrides it (the setting's minimum is 0.5). One minute leaves
 * the search enough epochs on 2 cores to be clearly better than chance, which this test checks.
 */
const BUDGET_MIN = Number(process.env.AUTOML_TEST_BUDGET_MIN || 1);
const ENDED = new Set(['done', 'failed', 'cancelled', 'interrupted']);

describe('Training through automl.trainDataset', function () {
  // Budget, plus worker start-up, data decoding, final evaluation and a slow shared machine.
  this.timeout(BUDGET_MIN * 60_000 + 180_000);

  let trained: string | undefined;

  it(`trains the sample dataset in ${BUDGET_MIN} min and evaluates the final model`, async () => {
    const api = await activated();
    const csv = wsFile(SAMPLE_CSV);
    const dir = await vscode.commands.executeCommand<string | undefined>('automl.trainDataset', csv, {
      budgetMinutes: BUDGET_MIN,
      openPanel: false,
    });
    assert.equal(typeof dir, 'string', 'automl.trainDataset(uri, { budgetMinutes }) must return the experiment folder');
    assert.ok(dir!.startsWith(api.experimentsRoot()!), `experiment ${dir} is not under ${api.experimentsRoot()}`);
    assert.equal(readRecord(dir!)?.spec.budgetMinutes, BUDGET_MIN);

    const rec = await waitFor(
      'the experiment to end',
      () => {
        const r = readRecord(dir!);
        return r && ENDED.has(r.status) && !api.manager.isRunning(dir!) ? r : undefined;
      },
      BUDGET_MIN * 60_000 + 150_000,
      1000,
    );

    assert.equal(rec.status, 'done', `experiment ended ${rec.status}: ${rec.error ?? '(no error recorded)'}; see ${join(dir!, 'worker.log')}`);
    assert.deepEqual(rec.classes?.length, 10, 'the sample has 10 classes');
    assert.ok(rec.backend?.name, 'the record names the backend it trained on');
    const trials = readdirSync(join(dir!, 'trials'));
    assert.ok(trials.length >= 1, 'no trial ran');
    assert.ok(rec.finalModel, 'no final model recorded');
    assert.ok(rec.test, 'no test metrics recorded');
    // 10 balanced classes: chance is 0.10. A minute on 2 cores learns far more than that.
    const epochs = trials
      .map((t) => readTrial(dir!, t))
      .map((t) => `${t?.id} ${t?.epochsDone?.toFixed(2)} ep`)
      .join(', ');
    assert.ok(rec.test.accuracy > 0.25, `test accuracy ${rec.test.accuracy} is barely above chance (trials: ${epochs})`);
    assert.ok(existsSync(join(dir!, 'final')), 'no final/ folder');
    trained = dir;
  });

  it('serves the trained model over HTTP on 127.0.0.1 with a token, and stops', async function () {
    if (!trained) this.skip();
    const s = await vscode.commands.executeCommand<{ url: string; externalUrl: string; token: string; name: string; endpoint: string }>(
      'automl.startServer',
      trained,
    );
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    // What the user is shown is the address their machine reaches (asExternalUri: code-server's proxy here).
    assert.equal(s.endpoint, `${s.externalUrl}/v1/models/${s.name}:predict`, 'the endpoint the notification and the status bar show');
    const auth = { authorization: `Bearer ${s.token}` };
    assert.equal((await fetch(`${s.url}/v1/models`)).status, 401, 'no token must be refused');
    const models = (await (await fetch(`${s.url}/v1/models`, { headers: auth })).json()) as { models: { name: string; classes: string[] }[] };
    assert.equal(models.models[0].name, s.name);
    assert.equal(models.models[0].classes.length, 10);
    const png = readFileSync(wsFile('examples/fashion-sample/images/sneaker/0000.png').fsPath);
    const r = await fetch(`${s.url}/v1/models/${s.name}:predict`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ payload: { image: { imageBytes: png.toString('base64') } } }),
    });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { payload: { displayName: string; classification: { score: number } }[] };
    assert.equal(body.payload.length, 10);
    assert.ok(Math.abs(body.payload.reduce((a, p) => a + p.classification.score, 0) - 1) < 1e-3);
    await vscode.commands.executeCommand('automl.stopServer');
    await assert.rejects(fetch(`${s.url}/v1/models`, { headers: auth }), 'the server must be closed after Stop Prediction Server');
  });

  it('exports the trained model to ONNX through automl.exportModel (the folder asked for, then model.onnx with its labels)', async function () {
    if (!trained) this.skip();
    const target = mkdtempSync(join(tmpdir(), 'automl-export-onnx-'));
    const win = vscode.window as { showOpenDialog: typeof vscode.window.showOpenDialog };
    const original = win.showOpenDialog;
    const asked: (string | undefined)[] = [];
    win.showOpenDialog = async (o) => {
      asked.push(o?.title);
      return [vscode.Uri.file(target)];
    };
    try {
      const out = await vscode.commands.executeCommand<string | undefined>('automl.exportModel', trained, 'onnx');
      assert.equal(out, join(target, `${trained!.split(/[\\/]/).pop()}-onnx`));
      assert.match(asked[0] ?? '', /ONNX model \(model\.onnx/);
      assert.deepEqual(readdirSync(out!).sort(), ['README.md', 'labels.json', 'model.onnx', 'preprocessing.json']);
      assert.equal((JSON.parse(readFileSync(join(out!, 'labels.json'), 'utf8')) as string[]).length, 10);
      // The labels are in the model's own metadata too (a protobuf string field: readable in the bytes).
      assert.ok(readFileSync(join(out!, 'model.onnx')).includes('"ankle_boot"'));
      assert.ok(existsSync(join(trained!, 'final', 'model.onnx')), 'the experiment keeps a copy for its prediction server');
    } finally {
      win.showOpenDialog = original;
      rmSync(target, { recursive: true, force: true });
    }
  });
});
