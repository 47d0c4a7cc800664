let detectedMajor: number | undefined;

/**
 * The running n8n's major version: n8n-workflow is the n8n's own copy (a peer dependency), and its
 * major version is the n8n's. An n8n-workflow that hides its package.json is a newer one (2).
 */
export function n8nMajorVersion(): number {
  if (detectedMajor === undefined) {
    let major = 2;
    try {
      const { version } = require('n8n-workflow/package.json') as { version?: unknown };
      if (typeof version === 'string') major = Number.parseInt(version, 10);
    } catch {
      // Newer n8n-workflow: keep 2.
    }
    detectedMajor = Number.isNaN(major) ? 2 : major;
  }
  return detectedMajor;
}
