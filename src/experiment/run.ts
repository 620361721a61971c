// One experiment, start to end, inside the worker process, as the list of its phases (README.md):
//   prepare → features (with a backbone) → plan → search → final fit → final model → evaluate → finish.
// Every phase writes to the experiment store as it goes, so a crash, a cancel or a kill keeps
// every finished trial and the best model; `resume` carries on from there. An experiment that
// throws is marked failed (markFailed); its images are closed whatever happens.
import type { ExperimentRecord } from '../shared/protocol';
import { type RunContext, openExperiment } from './context';
import { evaluate } from './evaluate';
import { features } from './features';
import { finalFit } from './final-fit';
import { chooseFinalModel } from './final-model';
import { finish, markFailed } from './finish';
import { plan } from './plan';
import { prepare } from './prepare';
import { search } from './search-phase';

export type { RunContext } from './context';
export { dataMemoryBytes, pixelStats } from './prepare';

export async function runExperiment(run: RunContext): Promise<ExperimentRecord> {
  const ctx = openExperiment(run);
  try {
    const prepared = Object.assign(ctx, await prepare(ctx));
    await features(prepared);
    const planned = Object.assign(prepared, await plan(prepared));
    const searched = await search(planned);
    const fitted = await finalFit(planned, searched);
    const chosen = await chooseFinalModel(planned, fitted);
    const evaluated = await evaluate(planned, chosen);
    return finish(planned, { best: chosen.best, finalModel: evaluated.finalModel, test: evaluated.test, ood: evaluated.ood });
  } catch (e) {
    return markFailed(ctx, e);
  } finally {
    ctx.data?.close();
  }
}
