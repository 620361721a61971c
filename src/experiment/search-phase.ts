// Phase 3, search: in `search` mode the portfolio, TPE and ASHA until the plan's search deadline; in
// `fixed` and `short-budget` modes one network (the portfolio's first, or its short-budget one)
// trained for the whole budget, annealed to the deadline less the time kept for evaluation.
// Reads: the plan, the search options and hooks, earlier trials when resuming.
// Writes (through the plan's hooks): every trial's record, history and checkpoint, the record's
// secondsUsed, the leaderboard; trial events. Logs how the search ended.
import { shortBudgetConfig } from '../search/portfolio';
import { type SearchResult, runSearch } from '../search/search';
import type { PlannedContext } from './plan';

export async function search(ctx: PlannedContext): Promise<SearchResult> {
  const { mode, searchOptions, hooks, plan, previousTrials } = ctx;
  const result =
    mode === 'search'
      ? await runSearch({ ...searchOptions, deadline: ctx.searchDeadline, previous: previousTrials }, hooks)
      : // The baseline: the portfolio's first network for the whole budget (one trial, annealed to the deadline).
        await runSearch(
          {
            ...searchOptions,
            portfolio:
              mode === 'short-budget' ? [shortBudgetConfig({ separable: ctx.separable, transfer: ctx.transfer })] : searchOptions.portfolio.slice(0, 1),
            minResource: 1e6,
            maxResource: 1e6,
            maxTrials: 1,
            deadline: ctx.deadline - plan.reserveSeconds * 1000,
            previous: previousTrials,
          },
          hooks,
        );
  ctx.log(
    `${mode === 'short-budget' ? 'Training' : mode === 'fixed' ? 'Fixed baseline' : 'Search'} ended (${result.stoppedBy}) after ${result.trials.length} trials`,
  );
  return result;
}
