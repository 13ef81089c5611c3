import { Decoder, type Packet } from 'socket.io-parser';

/**
 * Socket.IO's default parser (the `parser` option), with an encoder that skips one step. The default
 * encoder walks every outgoing packet, key by key, looking for a Buffer to send as a binary attachment
 * (`hasBinary`); Parley never sends binary (every payload is JSON built in chat/wire.ts and friends), so
 * the walk always answered no, at about 2% of a gateway's CPU and a share of its garbage under chat load.
 * What goes on the wire is unchanged: the same string encoding of the Socket.IO protocol (v5), so every
 * Socket.IO client, ours included, reads it with the default parser. Decoding is the default's.
 *
 * A Buffer emitted by mistake would go out as its JSON form (`{ type: 'Buffer', data: [...] }`), never
 * as an attachment.
 */
export class JsonEncoder {
  encode(packet: Packet): string[] {
    let encoded = String(packet.type);
    // The default namespace goes without its name, as the default encoder does.
    if (packet.nsp && packet.nsp !== '/') encoded += `${packet.nsp},`;
    if (packet.id !== undefined && packet.id !== null) encoded += packet.id;
    if (packet.data !== undefined && packet.data !== null) encoded += JSON.stringify(packet.data);
    return [encoded];
  }
}

export const jsonParser = { Encoder: JsonEncoder, Decoder };
