import { existsSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Writes (once) a WAV file Chromium plays as the fake microphone
 * (`--use-file-for-fake-audio-capture`, looped): a steady 440 Hz tone at
 * half scale, 16-bit mono 48 kHz, one second. Returns its path.
 */
export function fakeMicrophoneWav(): string {
  const path = join(tmpdir(), "phonebooth-fake-microphone-440hz.wav");
  if (existsSync(path)) return path;
  const rate = 48_000;
  const samples = rate; // one second, a whole number of 440 Hz periods
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    data.writeInt16LE(Math.round(16_000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8);
  header.write("fmt ", 12);
  header.writeUInt32LE(16, 16); // PCM header size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28); // bytes per second
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write("data", 36);
  header.writeUInt32LE(data.length, 40);
  // Written aside and renamed, so a parallel reader never sees half a file.
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, Buffer.concat([header, data]));
  renameSync(partial, path);
  return path;
}
