// Entry of the webview bundle (dist/webview.js + dist/webview.css). One bundle serves the four
// panels; `<body data-panel="…">` says which one this page is.
import './styles.css';
import type { PanelKind } from '../src/shared/protocol';
import { onHostMessage, ready } from './bridge';
import { rebuildCharts, registerCharts } from './charts';
import { registerComponents } from './components';
import { DatasetView } from './dataset';
import { h, replaceChildren } from './dom';
import { EvaluationView } from './evaluation';
import { PredictView } from './predict';
import { onThemeChange } from './theme';
import { TrainingView } from './training';

function start(): void {
  registerComponents();
  registerCharts();
  onThemeChange(rebuildCharts);
  const kind = document.body.dataset.panel as PanelKind | undefined;
  const root = document.getElementById('app') ?? document.body.appendChild(h('main#app'));
  const views = { dataset: DatasetView, training: TrainingView, evaluation: EvaluationView, predict: PredictView };
  if (!kind || !(kind in views)) {
    replaceChildren(root, h('p', null, `Unknown panel "${kind ?? ''}".`));
    return;
  }
  replaceChildren(root, h('div.loading', null, h('vscode-progress-ring', { 'aria-label': 'Loading' }), 'Loading…'));
  const view = new views[kind](root);
  onHostMessage((m) => {
    if (m.type === 'failed') {
      replaceChildren(
        root,
        h('div.banner.banner-error', { role: 'alert' }, h('div.banner-text', null, h('strong', null, 'Cannot show this panel. '), m.message)),
      );
      return;
    }
    if (m.type === 'loading') {
      replaceChildren(root, h('div.loading', null, h('vscode-progress-ring', { 'aria-label': 'Loading' }), m.message));
      return;
    }
    try {
      view.onMessage(m);
    } catch (e) {
      console.error(e);
      replaceChildren(
        root,
        h(
          'div.banner.banner-error',
          { role: 'alert' },
          h('div.banner-text', null, h('strong', null, 'This panel hit a bug. '), String((e as Error).message ?? e)),
        ),
      );
    }
  });
  ready();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
