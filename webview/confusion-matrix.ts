// The confusion matrix of the evaluation view as a keyboard-usable grid: counts or row
// shares, shaded by size, with a "below threshold" column when some top scores fall under it.
import { h } from './dom';
import { int, pct, plural } from './format';

/**
 * The matrix table (true labels as rows, predictions as columns) and its column count. `cell` is
 * the selected cell; `focusCell` the one that takes the tab stop.
 */
export function confusionTable(o: {
  confusion: number[][];
  classes: string[];
  normalise: boolean;
  cell: [number, number] | null;
  focusCell: [number, number];
  threshold: number;
}): { table: HTMLElement; cols: number } {
  const k = o.classes.length;
  const below = o.confusion.some((r) => r[k] > 0);
  const cols = below ? k + 1 : k;
  let max = 0;
  for (let r = 0; r < k; r++) {
    const rowSum = o.confusion[r].reduce((a, b) => a + b, 0);
    for (let c = 0; c < cols; c++) max = Math.max(max, o.normalise ? (rowSum ? o.confusion[r][c] / rowSum : 0) : o.confusion[r][c]);
  }
  const [fr, fc] = [Math.min(o.focusCell[0], k - 1), Math.min(o.focusCell[1], cols - 1)];
  const axisRow = h(
    'tr',
    null,
    h('th.axis-corner', { scope: 'col' }, 'True ↓ · Predicted →'),
    h('th.axis-title', { scope: 'colgroup', colspan: cols }, 'Predicted label'),
  );
  const headRow = h(
    'tr',
    null,
    h('th.corner', { scope: 'col' }, h('span.visually-hidden', null, 'True label')),
    Array.from({ length: cols }, (_, c) =>
      h(
        'th.col-head',
        { scope: 'col', title: c < k ? `Predicted ${o.classes[c]}` : 'Top score below the threshold: no prediction' },
        h('span', null, c < k ? o.classes[c] : 'below threshold'),
      ),
    ),
  );
  const body = o.classes.map((name, r) => {
    const rowSum = o.confusion[r].reduce((a, b) => a + b, 0);
    return h(
      'tr',
      null,
      h('th.row-head', { scope: 'row', title: `True ${name}` }, name),
      Array.from({ length: cols }, (_, c) => {
        const count = o.confusion[r][c];
        const share = rowSum ? count / rowSum : 0;
        const v = o.normalise ? share : count;
        const intensity = max ? v / max : 0;
        const selected = !!o.cell && o.cell[0] === r && o.cell[1] === c;
        const diag = r === c;
        const td = h(
          'td.cell',
          {
            role: 'gridcell',
            tabindex: r === fr && c === fc ? 0 : -1,
            'aria-selected': selected ? 'true' : 'false',
            'data-row': r,
            'data-col': c,
            'aria-label': `True ${name}, ${c < k ? `predicted ${o.classes[c]}` : 'below threshold'}: ${plural(count, 'image')}, ${pct(share, 1)} of the row`,
            class: `cell${diag ? ' diag' : ''}${selected ? ' selected' : ''}${count === 0 ? ' zero' : ''}`,
          },
          o.normalise ? (rowSum ? pct(share, share < 0.1 && share > 0 ? 1 : 0) : 'n/a') : int(count),
        );
        if (count > 0)
          td.style.backgroundColor = `color-mix(in srgb, var(--matrix-${diag ? 'good' : c === k ? 'none' : 'bad'}) ${Math.round(8 + intensity * 62)}%, transparent)`;
        if (intensity > 0.55) td.classList.add('strong');
        return td;
      }),
    );
  });
  const table = h(
    'table.matrix',
    {
      role: 'grid',
      'aria-label': `Confusion matrix at threshold ${o.threshold.toFixed(2)}${o.normalise ? ', row-normalised' : ''}`,
      'aria-rowcount': k + 1,
      'aria-colcount': cols + 1,
    },
    h('thead', null, axisRow, headRow),
    h('tbody', null, body),
  );
  return { table, cols };
}
