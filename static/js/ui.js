// Small DOM helpers shared by the pages.
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Creates an element: el('p', {class: 'hint'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** Shows one step (`[data-step]` section) and moves focus to its heading. */
export function show(step, heading, focus = true) {
  for (const s of $$('[data-step]')) s.hidden = s !== step;
  const h = step.querySelector('h2') || step.querySelector('h1');
  if (heading && h) h.textContent = heading;
  if (h && focus) {
    h.tabIndex = -1;
    h.focus();
  }
  window.scrollTo(0, 0);
}

/** Puts a message (text, or nodes) into an aria-live region; empty clears it. */
export function say(region, ...content) {
  region.replaceChildren(...content.flat().filter((c) => c !== null && c !== undefined && c !== ''));
}

/** Disables a button while a request runs, keeping its width (no layout shift). */
export function busy(button, on) {
  if (on) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  } else {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** Marks an input invalid (or valid) for assistive technology. */
export function invalid(input, on) {
  if (on) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/** The 6-digit code typed in `input` (spaces ignored), or null after telling the user why in `region`. */
export function typedCode(input, region) {
  const code = input.value.replace(/\s+/g, '');
  say(region);
  if (/^\d{6}$/.test(code)) return code;
  say(region, el('p', { text: 'Enter the 6-digit code we sent you.' }));
  invalid(input, true);
  input.focus();
  return null;
}
