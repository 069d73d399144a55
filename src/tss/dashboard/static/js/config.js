// The server's settings for the scripts, read once from the page's tss-config <meta>
// element (dashboard/pages.py writes it; the CSP forbids an inline script).

/** What the scripts know of the config: title, zone, pages, columns, run states... */
export const config = JSON.parse(document.querySelector('meta[name="tss-config"]').content);
