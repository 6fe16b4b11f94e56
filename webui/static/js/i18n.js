// Message catalogs (i18n/en.json, i18n/ko.json), the language choice and locale formatting.

export const LANGUAGES = ['en', 'ko'];
const STORAGE_KEY = 'sillok.language'; // a display preference only; no credentials are stored
const catalogs = {};
const listeners = new Set();
let current = 'en';

async function load(language) {
  if (!catalogs[language]) {
    const response = await fetch(`/ui/i18n/${language}.json`, { credentials: 'same-origin' });
    catalogs[language] = await response.json();
  }
  return catalogs[language];
}

/** The browser's preferred supported language, unless the user chose one here before. */
export function preferredLanguage() {
  let saved = null;
  try { saved = window.localStorage.getItem(STORAGE_KEY); } catch { /* storage may be disabled */ }
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return 'en';
}

export async function initI18n() {
  await Promise.all(LANGUAGES.map(load));
  current = preferredLanguage();
  applyDocument();
}

export const language = () => current;

/** The message `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  return tFor(current, key, vars);
}

/** The message `key` in `lang` (one of LANGUAGES; otherwise the current language). */
export function tFor(lang, key, vars = {}) {
  const chosen = LANGUAGES.includes(lang) ? lang : current;
  const template = catalogs[chosen]?.[key] ?? catalogs.en?.[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

const HANGUL = /[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]/u;
const LETTER = /\p{L}/gu;

/** 'ko' when at least a fifth of the letters of `text` are Hangul, else 'en' (as the server decides). */
export function detectLanguage(text) {
  const letters = String(text ?? '').match(LETTER) || [];
  if (!letters.length) return 'en';
  const hangul = letters.filter((letter) => HANGUL.test(letter)).length;
  return hangul / letters.length >= 0.2 ? 'ko' : 'en';
}

/** Fill every `data-i18n*` element under `root` from the catalog. */
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  }
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  }
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
}

function applyDocument() {
  document.documentElement.lang = current;
  document.title = t('app.title');
  translate(document);
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === current));
  }
}

export function setLanguage(next) {
  if (!LANGUAGES.includes(next) || next === current) return;
  current = next;
  try { window.localStorage.setItem(STORAGE_KEY, next); } catch { /* storage may be disabled */ }
  applyDocument();
  for (const listener of listeners) listener(next);
}

/** Call `listener(language)` after every switch (views re-render their dynamic parts). */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** A date and time in the current language; '' for a missing value. */
export function formatDateTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

export function formatDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium' }).format(date);
}

export function formatNumber(value) {
  return new Intl.NumberFormat(current).format(value);
}
