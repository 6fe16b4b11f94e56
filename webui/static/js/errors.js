// User-facing messages for failed requests.

import { ApiError } from './api.js';
import { t } from './i18n.js';

/** A translated message for an API failure (the server's own text is English only). */
export function errorMessage(error) {
  if (error instanceof ApiError) {
    if (error.status === 429) return t('error.rateLimited');
    if (error.status === 404) return t('error.notFound');
    if (error.status === 403) return error.code === 'csrf_failed' ? t('error.session') : t('error.forbidden');
    if (error.status === 413) return t('error.tooLarge');
    if (error.status === 422 || error.code === 'invalid_input') return t('error.invalid');
    if (error.status === 503 || error.code === 'dependency_unavailable') return t('error.unavailable');
    if (error.status === 0) return t('error.network');
  }
  return t('error.generic');
}
