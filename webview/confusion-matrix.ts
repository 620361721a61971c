// The confusion matrix of the evaluation view as a keyboard-usable grid: counts or row
// shares, the diagonal and the errors shaded in two hues, with a "below threshold" column when some
// top scores fall under it.
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
  // Errors stand out: the diagonal is shaded (one hue) by the row's share that is right; each error
  // (another hue) by its row share against the largest error's, so that the worst confusions are the
  // strongest cells even when every error is small next to the diagonal.
  let maxErr = 0;
  for (let r = 0; r < k; r++) {
    const rowSum = o.confusion[r].reduce((a, b) => a + b, 0);
    for (let c = 0; c < k; c++) if (c !== r && rowSum) maxErr = Math.max(maxErr, o.confusion[r][c] / rowSum);
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
        if (count > 0) {
          const shade = cellShade(diag ? 'good' : c === k ? 'none' : 'bad', share, maxErr);
          td.style.backgroundColor = `color-mix(in srgb, var(--matrix-${shade.hue}) ${shade.mix}%, transparent)`;
          td.setAttribute('data-shade', `${shade.hue} ${shade.mix}`);
          if (shade.mix > 55) td.classList.add('strong');
        }
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

/**
 * How strongly a cell is shaded (percent of its hue): the diagonal by its row share (10–75 %); an error by
 * the square root of its share over the largest error's (15–75 %, so a rare error is still visible);
 * "below threshold" by its share (10–60 %).
 */
export function cellShade(hue: 'good' | 'bad' | 'none', share: number, maxErr: number): { hue: 'good' | 'bad' | 'none'; mix: number } {
  if (hue === 'good') return { hue, mix: Math.round(10 + share * 65) };
  if (hue === 'bad') return { hue, mix: Math.round(15 + Math.sqrt(maxErr ? Math.min(1, share / maxErr) : 0) * 60) };
  return { hue, mix: Math.round(10 + share * 50) };
}
