/**
 * The template language of notification texts: `{{ path }}` is replaced by the value at that dotted
 * path of the variables (`{{user.name}}`, `{{content.title}}`, `{{contents.1.title}}`,
 * `{{data.actor}}`); `{{ a.b ?? c.d }}` takes the first path with a value, and `{{ path | fallback text }}`
 * uses the text when no path has one (missing, null or empty). Nothing else: no logic, no loops, so a
 * template can never run code or loop forever.
 */

export type Escape = 'none' | 'html' | 'json' | 'url';

export type TemplateVariables = Readonly<Record<string, unknown>>;

const PATH = '[A-Za-z0-9_.-]+';
const PLACEHOLDER = new RegExp(`\\{\\{\\s*(${PATH}(?:\\s*\\?\\?\\s*${PATH})*)\\s*(?:\\|\\s*([^}]*?)\\s*)?\\}\\}`, 'g');

/**
 * @example
 * renderTemplate('New episode: {{content.title | something new}}', { content: { title: 'Pilot' } });
 * // 'New episode: Pilot'
 */
export function renderTemplate(template: string, variables: TemplateVariables, escape: Escape = 'none'): string {
  return template.replace(PLACEHOLDER, (_match, paths: string, fallback: string | undefined) => {
    const value = paths
      .split('??')
      .map((path) => lookup(variables, path.trim()))
      .find((v) => v !== undefined && v !== null && v !== '');
    const text = value === undefined ? (fallback ?? '') : stringify(value);
    return escapeFor(text, escape);
  });
}

/** The paths a template uses, for checking templates against the variables they may name. */
export function templatePaths(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].flatMap((m) => m[1]!.split('??').map((path) => path.trim()));
}

function lookup(variables: TemplateVariables, path: string): unknown {
  let current: unknown = variables;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    // Own properties only: `{{user.constructor}}` must not reach into prototypes.
    if (!Object.prototype.hasOwnProperty.call(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

function escapeFor(text: string, escape: Escape): string {
  switch (escape) {
    case 'none':
      return text;
    case 'json':
      // The inside of a JSON string literal, so a template can place it between quotes.
      return JSON.stringify(text).slice(1, -1);
    case 'url':
      return encodeURIComponent(text);
    case 'html':
      return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
  }
}

const HTML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
