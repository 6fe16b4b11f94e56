// Sign-in: a local account (session cookie + CSRF token), or the company's single sign-on.

import { api, ApiError, setCsrf } from './api.js';
import { $ } from './dom.js';
import { errorMessage } from './errors.js';
import { t } from './i18n.js';
import { safeHref } from './markdown.js';

/** Show the sign-in form for the server's configuration `config`. */
export function showLogin(config) {
  $('#local-login').hidden = config ? config.local === false : false;
  const sso = config?.oidc ? safeHref(config.oidc_login_url) : null;
  $('#oidc-login-block').hidden = !sso;
  if (sso) $('#oidc-login').setAttribute('href', sso);
  $('#login-error').textContent = '';
  $('#login-password').value = '';
  const first = $('#local-login').hidden ? $('#oidc-login') : $('#login-username');
  window.setTimeout(() => first.focus(), 0);
}

/** Wire the form; `signedIn(me)` runs after a successful sign-in. */
export function initLogin(signedIn) {
  $('#login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = $('#login-username').value.trim();
    const password = $('#login-password').value;
    const error = $('#login-error');
    if (!username || !password) {
      error.textContent = t('auth.missing');
      (username ? $('#login-password') : $('#login-username')).focus();
      return;
    }
    error.textContent = '';
    const button = $('#login-form button[type="submit"]');
    button.disabled = true;
    try {
      const me = await api('/api/v1/auth/login', { method: 'POST', json: { username, password }, quiet401: true });
      setCsrf(me.csrf);
      $('#login-password').value = '';
      signedIn({ username: me.username, groups: me.groups || [], admin: Boolean(me.admin) });
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.status === 401
        ? t('auth.failed') : errorMessage(failure);
      $('#login-password').select();
    } finally {
      button.disabled = false;
    }
  });
}
