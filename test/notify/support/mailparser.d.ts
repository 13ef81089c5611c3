// mailparser 3.7 ships no types; the little the tests use.
declare module 'mailparser' {
  interface AddressObject {
    value: { address?: string; name: string }[];
    text: string;
  }
  interface ParsedMail {
    subject?: string;
    text?: string;
    html?: string | false;
    from?: AddressObject;
    to?: AddressObject | AddressObject[];
    headers: Map<string, unknown>;
  }
  export function simpleParser(source: NodeJS.ReadableStream | Buffer | string): Promise<ParsedMail>;
}
