// The part of zstd-codec (no types of its own) the tests use to make
// Zstandard frames.
declare module "zstd-codec" {
  export const ZstdCodec: {
    run(cb: (zstd: { Simple: new () => { compress(data: Uint8Array, level?: number): Uint8Array | null } }) => void): void;
  };
}
