// The REST API as the signed-in browser uses it: the HttpOnly session cookie authenticates,
// and every state-changing request echoes the CSRF token. No credential is kept in storage.

const CSRF_COOKIE = 'sillok_csrf';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
let csrfFromLogin = '';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return '';
}

export function setCsrf(token) { csrfFromLogin = token || ''; }
export const csrfToken = () => readCookie(CSRF_COOKIE) || csrfFromLogin;

/** Called with every 401 so the app can show the sign-in page. */
let onUnauthenticated = () => {};
export function whenUnauthenticated(handler) { onUnauthenticated = handler; }

async function errorOf(response) {
  let code = '';
  let message = '';
  try {
    const body = await response.json();
    code = body?.error?.code || '';
    message = body?.error?.message || '';
  } catch { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

function headersFor(method, extra = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) headers['X-CSRF-Token'] = token;
  }
  return headers;
}

/**
 * Call the API. `json` is sent as a JSON body; `raw` returns the Response itself (for streams
 * and text). Errors become ApiError with the server's code and message.
 */
export async function api(path, { method = 'GET', json, body, signal, raw = false, quiet401 = false } = {}) {
  const extra = json === undefined ? {} : { 'Content-Type': 'application/json' };
  const response = await fetch(path, {
    method,
    headers: headersFor(method, extra),
    body: json === undefined ? body : JSON.stringify(json),
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'error',
    signal,
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !quiet401) onUnauthenticated(error);
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** Upload a multipart form with progress (0..1) reported to `onProgress`. */
export function upload(path, form, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', path);
    request.withCredentials = true;
    request.setRequestHeader('Accept', 'application/json');
    const token = csrfToken();
    if (token) request.setRequestHeader('X-CSRF-Token', token);
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) {
        resolve(body);
        return;
      }
      if (request.status === 401) onUnauthenticated();
      reject(new ApiError(request.status, body?.error?.code, body?.error?.message));
    });
    request.addEventListener('error', () => reject(new ApiError(0, 'network', '')));
    request.send(form);
  });
}

export const enc = encodeURIComponent;
