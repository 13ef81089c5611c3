import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** Envelope recipients, as the server saw them in RCPT TO. */
  readonly rcptTo: string[];
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  readonly headers: Map<string, unknown>;
}

/**
 * A real SMTP server (smtp-server) on port 0 that parses what it receives with mailparser. `refuse`
 * decides, per DATA command (1 for the first delivery attempt ever), whether to answer with an error
 * code instead of 250, as a greylisting or broken server would.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  /** Every DATA command seen, accepted or refused. */
  dataCommands = 0;
  refuse: (dataCommand: number, rcptTo: readonly string[]) => number | null = () => null;
  private server: SMTPServer | undefined;
  private port = 0;

  get url(): string {
    return `smtp://127.0.0.1:${this.port}?ignoreTLS=true`;
  }

  async start(): Promise<void> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const rcptTo = session.envelope.rcptTo.map((r) => r.address);
          const code = this.refuse(++this.dataCommands, rcptTo);
          if (code !== null) {
            const err = Object.assign(new Error(`refused by the test (${code})`), { responseCode: code });
            callback(err);
            return;
          }
          simpleParser(Buffer.concat(chunks)).then(
            (mail) => {
              const to = Array.isArray(mail.to) ? mail.to.map((t) => t.text).join(', ') : (mail.to?.text ?? '');
              this.received.push({ rcptTo, to, subject: mail.subject ?? '', text: (mail.text ?? '').trim(), html: mail.html || null, headers: mail.headers });
              callback();
            },
            (err: Error) => callback(err),
          );
        });
      },
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
