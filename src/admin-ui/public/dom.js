// Builds DOM nodes without ever parsing HTML: strings become text nodes, so data from the server
// (a user's name, an error message) is always shown as text and can never become markup.

/**
 * h('button', { type: 'button', class: 'x', onClick: fn }, 'Save')
 * Attributes: `on<Event>` adds a listener, `true` sets a boolean attribute, `false`/null/undefined skip it.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'value') {
      element.value = String(value);
    } else if (name === 'checked') {
      element.checked = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

let nextId = 0;
export function uniqueId(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * A labelled form field with an optional hint, wired with aria-describedby.
 * Returns { row, input } so callers can read the value.
 */
export function field({ label, name, type = 'text', value = '', hint, required = false, autocomplete = 'off', attributes = {} }) {
  const id = uniqueId(`field-${name.replace(/[^a-z0-9]/gi, '-')}`);
  const hintId = hint ? `${id}-hint` : undefined;
  const input =
    type === 'textarea'
      ? h('textarea', { id, name, rows: 5, 'aria-describedby': hintId, required, ...attributes })
      : h('input', { id, name, type, autocomplete, 'aria-describedby': hintId, required, spellcheck: 'false', ...attributes });
  input.value = value;
  const row = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label, required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  );
  return { row, input };
}

export function checkboxField({ label, name, checked = false, hint }) {
  const id = uniqueId(`field-${name.replace(/[^a-z0-9]/gi, '-')}`);
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h('input', { id, name, type: 'checkbox', 'aria-describedby': hintId });
  input.checked = checked;
  const row = h(
    'div',
    { class: 'field checkbox' },
    h('div', { class: 'checkbox-line' }, input, h('label', { for: id }, label)),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  );
  return { row, input };
}

/** The live region beside a form: role=alert for errors (announced at once), role=status for success. */
export function createNotice() {
  const element = h('div', { class: 'notice', hidden: true });
  return {
    element,
    error(message) {
      element.className = 'notice error';
      element.setAttribute('role', 'alert');
      element.replaceChildren(h('strong', {}, 'Error: '), document.createTextNode(message));
      element.hidden = false;
    },
    success(message) {
      element.className = 'notice success';
      element.setAttribute('role', 'status');
      element.replaceChildren(document.createTextNode(message));
      element.hidden = false;
    },
    hide() {
      element.hidden = true;
      element.replaceChildren();
    },
  };
}

/** Disables a form's controls while a request runs, so a double click cannot send twice. */
export async function whileBusy(form, work) {
  const controls = [...form.querySelectorAll('button, input, select, textarea')].filter((control) => !control.disabled);
  form.setAttribute('aria-busy', 'true');
  for (const control of controls) control.disabled = true;
  try {
    return await work();
  } finally {
    for (const control of controls) control.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

/** Asks with the page's <dialog>; resolves true only when the admin confirms. */
export function confirmAction(text, confirmLabel = 'Confirm') {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = confirmLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

export function pageHeader(title, description) {
  return h(
    'div',
    { class: 'page-header' },
    h('h1', { tabindex: '-1', id: 'page-title' }, title),
    description ? h('p', { class: 'lead' }, description) : null,
  );
}
