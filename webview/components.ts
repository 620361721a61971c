// The component layer: the ONLY module that touches a web-component toolkit. Panels build
// their UI from these functions, so moving from @vscode/webview-ui-toolkit (archived in
// January 2025) to @vscode-elements/elements is a change to this file alone.
//
// Where the toolkit has nothing suitable (a slider, a linear meter, status pills), the
// component is native HTML styled with VS Code's CSS variables (see styles.css).
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDataGrid,
  vsCodeDataGridCell,
  vsCodeDataGridRow,
  vsCodeDivider,
  vsCodeDropdown,
  vsCodeLink,
  vsCodeOption,
  vsCodePanels,
  vsCodePanelTab,
  vsCodePanelView,
  vsCodeProgressRing,
} from '@vscode/webview-ui-toolkit';
import { h, replaceChildren } from './dom';

let registered = false;
export function registerComponents(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(
    vsCodeButton(),
    vsCodeCheckbox(),
    vsCodeDataGrid(),
    vsCodeDataGridCell(),
    vsCodeDataGridRow(),
    vsCodeDivider(),
    vsCodeDropdown(),
    vsCodeLink(),
    vsCodeOption(),
    vsCodePanels(),
    vsCodePanelTab(),
    vsCodePanelView(),
    vsCodeProgressRing(),
  );
}

// ---------------------------------------------------------------------------------------------
// Buttons, links, badges, pills

export interface ButtonOptions {
  appearance?: 'primary' | 'secondary' | 'icon';
  title?: string;
  ariaLabel?: string;
  disabled?: boolean;
  id?: string;
  onClick: () => void;
}

export interface ButtonHandle {
  el: HTMLElement;
  setDisabled(disabled: boolean): void;
  setLabel(label: string): void;
}

export function button(label: string, opts: ButtonOptions): ButtonHandle {
  const el = h('vscode-button', {
    appearance: opts.appearance ?? 'primary',
    title: opts.title,
    'aria-label': opts.ariaLabel,
    id: opts.id,
  });
  el.textContent = label;
  const setDisabled = (d: boolean) => {
    if (d) el.setAttribute('disabled', '');
    else el.removeAttribute('disabled');
  };
  setDisabled(!!opts.disabled);
  el.addEventListener('click', () => {
    if (!el.hasAttribute('disabled')) opts.onClick();
  });
  return { el, setDisabled, setLabel: (l) => (el.textContent = l) };
}

/** A link-styled action (no navigation). */
export function actionLink(label: string, onClick: () => void, title?: string): HTMLElement {
  const el = h('vscode-link', { href: '#', title });
  el.textContent = label;
  el.addEventListener('click', (e) => {
    e.preventDefault();
    onClick();
  });
  return el;
}

/**
 * A count badge. Native rather than the toolkit's vscode-badge, whose template binds a `style`
 * attribute (blocked by the strict CSP, so it logs a violation on every badge).
 */
export function badge(text: string | number, title?: string): HTMLElement {
  return h('span.count-badge', { title }, String(text));
}

export type Tone = 'info' | 'success' | 'warning' | 'error' | 'running' | 'muted';

/** A status pill: coloured dot and text (colour is never the only carrier of meaning). */
export function pill(text: string, tone: Tone, title?: string): HTMLElement {
  return h(`span.pill.tone-${tone}`, { title }, h('span.pill-dot', { 'aria-hidden': 'true' }), text);
}

export function divider(): HTMLElement {
  return h('vscode-divider', { role: 'separator' });
}

// ---------------------------------------------------------------------------------------------
// Progress

export function progressRing(label: string): HTMLElement {
  return h('vscode-progress-ring', { 'aria-label': label });
}

export interface MeterHandle {
  el: HTMLElement;
  /** 0…1, or null for an indeterminate bar. */
  set(value: number | null, text?: string): void;
}

/** A thin linear meter (budget, epoch progress), like VS Code's progress bar. */
export function meter(label: string): MeterHandle {
  const fill = h('div.meter-fill');
  const track = h('div.meter', { role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
  return {
    el: track,
    set(value, text) {
      if (value === null) {
        track.classList.add('indeterminate');
        track.removeAttribute('aria-valuenow');
        fill.style.width = '';
      } else {
        const v = Math.max(0, Math.min(1, value));
        track.classList.remove('indeterminate');
        track.setAttribute('aria-valuenow', String(Math.round(v * 100)));
        fill.style.width = `${(v * 100).toFixed(2)}%`;
      }
      if (text) track.setAttribute('aria-valuetext', text);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Form controls

export interface Option<T extends string> {
  value: T;
  label: string;
}

export interface DropdownHandle<T extends string> {
  el: HTMLElement;
  value(): T;
  setValue(v: T): void;
  setOptions(options: Option<T>[], value: T): void;
}

/** A labelled dropdown. */
export function dropdown<T extends string>(label: string, options: Option<T>[], value: T, onChange: (v: T) => void): DropdownHandle<T> {
  const dd = h('vscode-dropdown', { 'aria-label': label, position: 'below' }) as HTMLElement & { value: string };
  const fill = (opts: Option<T>[], v: T) => {
    replaceChildren(
      dd,
      opts.map((o) => {
        const opt = h('vscode-option', { value: o.value });
        opt.textContent = o.label;
        if (o.value === v) opt.setAttribute('selected', '');
        return opt;
      }),
    );
    dd.value = v;
  };
  fill(options, value);
  dd.addEventListener('change', () => onChange(dd.value as T));
  const el = h('label.field', null, h('span.field-label', null, label), dd);
  return {
    el,
    value: () => dd.value as T,
    setValue: (v) => (dd.value = v),
    setOptions: fill,
  };
}

export interface CheckboxHandle {
  el: HTMLElement;
  setChecked(c: boolean): void;
}

export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void): CheckboxHandle {
  const el = h('vscode-checkbox') as HTMLElement & { checked: boolean };
  el.textContent = label;
  el.checked = checked;
  if (checked) el.setAttribute('checked', '');
  el.addEventListener('change', () => onChange(el.checked));
  return { el, setChecked: (c) => (el.checked = c) };
}

/** A two-state toggle button group (e.g. Counts | Row %), keyboard- and screen-reader-friendly. */
export function segmented<T extends string>(
  label: string,
  options: Option<T>[],
  value: T,
  onChange: (v: T) => void,
): { el: HTMLElement; setValue(v: T): void } {
  const buttons = options.map((o) => {
    const b = h('button.segment', { type: 'button', 'aria-pressed': o.value === value ? 'true' : 'false', 'data-value': o.value }, o.label);
    b.addEventListener('click', () => {
      set(o.value);
      onChange(o.value);
    });
    return b;
  });
  const set = (v: T) => buttons.forEach((b) => b.setAttribute('aria-pressed', b.dataset.value === v ? 'true' : 'false'));
  const el = h('div.segmented', { role: 'group', 'aria-label': label }, buttons);
  return { el, setValue: set };
}

export interface SliderOptions {
  label: string;
  min: number;
  max: number;
  step: number;
  value: number;
  format: (v: number) => string;
  onInput: (v: number) => void;
  id?: string;
}

export interface SliderHandle {
  el: HTMLElement;
  input: HTMLInputElement;
  setValue(v: number): void;
}

/** A native range input (the toolkit has no slider), themed with VS Code variables in styles.css. */
export function slider(o: SliderOptions): SliderHandle {
  const id = o.id ?? `slider-${Math.random().toString(36).slice(2, 8)}`;
  const input = h('input.slider', { type: 'range', id, min: o.min, max: o.max, step: o.step }) as HTMLInputElement;
  input.value = String(o.value);
  const output = h('output.slider-value', { for: id, 'aria-hidden': 'true' }, o.format(o.value));
  const update = () => {
    const v = Number(input.value);
    output.textContent = o.format(v);
    input.setAttribute('aria-valuetext', o.format(v));
    const f = (v - o.min) / (o.max - o.min || 1);
    input.style.setProperty('--fill', `${(f * 100).toFixed(2)}%`);
  };
  update();
  input.addEventListener('input', () => {
    update();
    o.onInput(Number(input.value));
  });
  const el = h('div.slider-field', null, h('label.field-label', { for: id }, o.label), input, output);
  return {
    el,
    input,
    setValue(v) {
      input.value = String(v);
      update();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Tabs

export interface TabItem {
  id: string;
  label: string;
  content: Node;
  badge?: string | number;
}

export interface TabsHandle {
  el: HTMLElement;
  select(id: string): void;
  setBadge(id: string, badge: string | number | undefined): void;
}

export function tabs(items: TabItem[], active: string, onChange: (id: string) => void): TabsHandle {
  const el = h('vscode-panels', { 'aria-label': 'Sections', activeid: `tab-${active}` }) as HTMLElement & { activeid: string };
  const tabEls = new Map<string, HTMLElement>();
  for (const it of items) {
    const tab = h('vscode-panel-tab', { id: `tab-${it.id}` }, it.label);
    if (it.badge !== undefined) tab.appendChild(badge(it.badge));
    tabEls.set(it.id, tab);
    el.appendChild(tab);
  }
  for (const it of items) el.appendChild(h('vscode-panel-view', { id: `view-${it.id}` }, it.content));
  el.addEventListener('change', (e) => {
    if (e.target !== el) return;
    const id = (el.activeid ?? '').replace(/^tab-/, '');
    if (id) onChange(id);
  });
  return {
    el,
    select(id) {
      el.activeid = `tab-${id}`;
      el.setAttribute('activeid', `tab-${id}`);
    },
    setBadge(id, b) {
      const tab = tabEls.get(id);
      if (!tab) return;
      tab.querySelector('.count-badge')?.remove();
      if (b !== undefined) tab.appendChild(badge(b));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Data grid

export interface Column<R> {
  title: string;
  /** CSS grid track, e.g. `1fr`, `90px`, `minmax(120px, 2fr)`. */
  width?: string;
  align?: 'left' | 'right';
  render: (row: R) => Node | string;
  /** Tooltip of the header. */
  description?: string;
}

export interface GridHandle<R> {
  el: HTMLElement;
  setRows(rows: R[]): void;
}

/** A read-only data grid (keyboard navigable by the toolkit: arrows, Home/End, Page keys). */
export function dataGrid<R>(label: string, columns: Column<R>[], opts: { empty?: string; rowClass?: (row: R) => string | undefined } = {}): GridHandle<R> {
  const grid = h('vscode-data-grid', {
    'aria-label': label,
    'generate-header': 'none',
    'grid-template-columns': columns.map((c) => c.width ?? '1fr').join(' '),
  });
  const cell = (content: Node | string, i: number, header: boolean, c: Column<R>) => {
    const el = h('vscode-data-grid-cell', {
      'grid-column': i + 1,
      'cell-type': header ? 'columnheader' : undefined,
      class: c.align === 'right' ? 'num' : undefined,
      title: header ? c.description : undefined,
    });
    if (typeof content === 'string') el.textContent = content;
    else el.appendChild(content);
    return el;
  };
  const header = h(
    'vscode-data-grid-row',
    { 'row-type': 'header' },
    columns.map((c, i) => cell(c.title, i, true, c)),
  );
  const empty = h('div.grid-empty', null, opts.empty ?? 'Nothing yet.');
  const wrap = h('div.grid-wrap', null, grid, empty);
  let rowEls = new Map<string, HTMLElement[]>();
  return {
    el: wrap,
    setRows(rows) {
      // Rows whose data did not change keep their elements (a live leaderboard changes one row per epoch).
      const next = new Map<string, HTMLElement[]>();
      const els = rows.map((r) => {
        const cls = opts.rowClass?.(r);
        const key = `${cls ?? ''}|${JSON.stringify(r)}`;
        const reuse = rowEls.get(key)?.pop();
        const el =
          reuse ??
          h(
            'vscode-data-grid-row',
            { class: cls },
            columns.map((c, i) => cell(c.render(r), i, false, c)),
          );
        next.set(key, [...(next.get(key) ?? []), el]);
        return el;
      });
      rowEls = next;
      const same = els.length + 1 === grid.children.length && els.every((el, i) => grid.children[i + 1] === el);
      if (!same) replaceChildren(grid, header, els);
      empty.hidden = rows.length > 0;
    },
  };
}
