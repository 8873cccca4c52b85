// GOV.UK Frontend's components, and a page that waits for letters reloads until they have gone.
import { initAll } from '/static/govuk/govuk-frontend.min.js'
initAll()
const waiting = document.querySelector('[data-cspr-refresh]')
if (waiting) {
  setTimeout(() => window.location.reload(), Number(waiting.dataset.csprRefresh) || 2000)
}
