// Reads files out of a zip archive such as Thunderbird's omni.ja, without
// extracting it: the central directory is read once, each member on demand.
// Only "stored" and "deflate" members are supported, which is all omni.ja
// uses.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { inflateRawSync } from "node:zlib";

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export class Jar {
  #fd;
  #entries = new Map();

  constructor(path) {
    this.path = path;
    this.#fd = openSync(path, "r");
    const size = fstatSync(this.#fd).size;
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = this.#read(size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new Error(`${path}: not a zip archive (no end of central directory)`);
    }
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    const cd = this.#read(cdOffset, cdSize);
    for (let p = 0, i = 0; i < count; i++) {
      if (cd.readUInt32LE(p) !== CENTRAL) {
        throw new Error(`${path}: bad central directory entry ${i}`);
      }
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
      this.#entries.set(name, {
        method: cd.readUInt16LE(p + 10),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        local: cd.readUInt32LE(p + 42),
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  #read(offset, length) {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, buf, done, length - done, offset + done);
      if (n === 0) {
        throw new Error(`${this.path}: unexpected end of file`);
      }
      done += n;
    }
    return buf;
  }

  has(name) {
    return this.#entries.has(name);
  }

  /** Names of the members whose name starts with prefix. */
  list(prefix) {
    return [...this.#entries.keys()].filter(n => n.startsWith(prefix));
  }

  /** The bytes of member name; throws if there is none. */
  read(name) {
    const e = this.#entries.get(name);
    if (!e) {
      throw new Error(`${this.path}: no member ${name}`);
    }
    const header = this.#read(e.local, 30);
    if (header.readUInt32LE(0) !== LOCAL) {
      throw new Error(`${this.path}: bad local header for ${name}`);
    }
    const start = e.local + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    const data = this.#read(start, e.compressedSize);
    switch (e.method) {
      case 0:
        return data;
      case 8:
        return inflateRawSync(data);
      default:
        throw new Error(`${this.path}: ${name} uses compression method ${e.method}`);
    }
  }

  text(name) {
    return this.read(name).toString("utf8");
  }

  close() {
    closeSync(this.#fd);
  }
}
