/**
 * Media type from content, never from the file name (names are metadata only): DICOM's "DICM"
 * at offset 128 (PS3.10 §7.1), PDF, and the common video and audio containers.
 */

export const SNIFF_BYTES = 512;

function ascii(head: Uint8Array, at: number, text: string): boolean {
  if (head.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

export function sniffMediaType(head: Uint8Array): string {
  if (ascii(head, 128, "DICM")) return "application/dicom";
  if (ascii(head, 0, "%PDF-")) return "application/pdf";
  if (ascii(head, 4, "ftyp")) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    if (brand.startsWith("qt")) return "video/quicktime";
    if (brand === "M4A " || brand === "M4B ") return "audio/mp4";
    return "video/mp4";
  }
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    // EBML: Matroska or WebM, told apart by the DocType in the first bytes.
    return Buffer.from(head.subarray(0, 64)).includes("webm") ? "video/webm" : "video/x-matroska";
  }
  if (ascii(head, 0, "RIFF") && ascii(head, 8, "WAVE")) return "audio/wav";
  if (ascii(head, 0, "RIFF") && ascii(head, 8, "AVI ")) return "video/x-msvideo";
  if (ascii(head, 0, "OggS")) return "audio/ogg";
  if (ascii(head, 0, "fLaC")) return "audio/flac";
  if (ascii(head, 0, "ID3") || (head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0)) return "audio/mpeg";
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg";
  if (ascii(head, 0, "\x89PNG\r\n\x1a\n")) return "image/png";
  return "application/octet-stream";
}
